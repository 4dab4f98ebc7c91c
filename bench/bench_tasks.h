/* `transmamba bench tasks`: trains each controller on the supervised
 * synthetic memory tasks and scores it on held-out data. Definition: issue 5
 * (items 2 and 3); shared spec cli.md ("bench tasks", its --json contract),
 * envs.md ("Synthetic memory tasks"). */
#ifndef TM_BENCH_TASKS_H
#define TM_BENCH_TASKS_H

/* Runs the bench. argv follows main's convention: argv[0] is the command's
 * name (ignored), options follow (see --help). Returns the exit status: 0
 * every row trained and was scored, 1 a row failed (it is reported in the
 * table with its error), 2 bad usage. */
int tm_bench_tasks_main(int argc, char **argv);

#endif
