// The eight analysis queries in DuckDB (from npm, @duckdb/node-api) over the CSV files sql_bench
// writes, timed per query file (best of 3; loading is not timed). The SQL is conf/queries/*.sql
// with two adaptations: median(x) → quantile_disc(x, 0.5) (the same lower-median definition) and
// the table name user quoted (a keyword in DuckDB).
//
//   node sql_duckdb.mjs CSV_DIR QUERIES_DIR        (run from a folder where the package is installed)
import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';

const [csvDir, queriesDir] = process.argv.slice(2);
const instance = await DuckDBInstance.create(':memory:');
const con = await instance.connect();
for (const t of ['pin', 'geo', 'user']) {
  await con.run(`CREATE TABLE "${t}" AS SELECT * FROM read_csv_auto('${path.join(csvDir, t + '.csv')}')`);
}
const files = fs.readdirSync(queriesDir).filter((f) => f.endsWith('.sql')).sort();
let total = 0;
for (const f of files) {
  const sql = fs.readFileSync(path.join(queriesDir, f), 'utf8')
    .replace(/--.*$/gm, '')
    .replace(/median\(([^()]*)\)/g, 'quantile_disc($1, 0.5)')
    .replace(/\b(JOIN|FROM) user\b/g, '$1 "user"');
  const statements = sql.split(';').map((s) => s.trim()).filter((s) => s.length > 0);
  let best = Infinity;
  let rows = 0;
  for (let rep = 0; rep < 3; ++rep) {
    const t0 = process.hrtime.bigint();
    rows = 0;
    for (const s of statements) rows += (await con.runAndReadAll(s)).getRows().length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  total += best;
  const q = path.basename(f, '.sql');
  console.log(`RESULT sql_duckdb_${q}_ms ${best.toPrecision(6)} ms`);
  console.log(`  ${q}   duckdb ${best.toFixed(1).padStart(8)} ms   (${rows} rows)`);
}
console.log(`RESULT sql_duckdb_total_s ${(total / 1000).toPrecision(6)} s`);
