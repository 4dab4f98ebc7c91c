/* `transmamba bench envs`: env pool throughput against a bare loop.
 * Definition: shared spec cli.md ("bench envs") and envs.md (the raw mj_step
 * rate is the physical limit the pool is measured against). */
#ifndef TM_BENCH_ENVS_H
#define TM_BENCH_ENVS_H

/* Runs the bench. argv follows main's convention: argv[0] is the command's
 * name (ignored), options follow:
 *   --env NAME|all  --envs N  --threads T  --steps S  --repeat R  --json  --help
 * Returns the exit status (0 ok, 1 a measurement failed, 2 bad usage). */
int tm_bench_envs_main(int argc, char **argv);

#endif
