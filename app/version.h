// The binary's version: the project version (CMakeLists.txt) and the git commit it was built
// from (`git describe --always --dirty` at build time, "unknown" outside a git checkout).
// Generated into the build tree by app/version.cmake on every build; it changes only when the
// commit or the working tree's state does, so a rebuild compiles one file.
#pragma once

namespace pinstream::app {

const char* Version();  // "0.1.0"
const char* Commit();   // "90b497d", "90b497d-dirty" or "unknown"

}  // namespace pinstream::app
