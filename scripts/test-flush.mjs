// Preloaded into every test process by scripts/run-tests.mjs (`--import`). With
// `--test-force-exit`, a test file's process exits as soon as its tests are done, and on Linux its
// stdout (the pipe that carries its results to the runner) is asynchronous: the last results can
// still be buffered and are lost, while the run exits 0 (nodejs/node#64833, open as of Node
// 26.12; measured here: 1,229-1,475 of 1,500 tests reported). A blocking stdout writes each result
// before the next line of the test process runs, so the exit loses none.
process.stdout._handle?.setBlocking?.(true);
