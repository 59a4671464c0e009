// ConnectorEnv: the runtime objects connectors need (the store, the HTTP source log), injected
// by the binary's composition root. Config parsing (and `pinstream validate`) happens before
// they exist, so specs keep a pointer to the env and look it up only in Create()/Open().
#pragma once

namespace pinstream::state {
class Store;
class SourceLog;
}  // namespace pinstream::state

namespace pinstream::connectors {

struct ConnectorEnv {
  state::Store* store = nullptr;
  state::SourceLog* source_log = nullptr;
};

}  // namespace pinstream::connectors
