/* The `transmamba` command-line program: subcommand dispatch (spec cli.md). */
#ifndef TM_CLI_H
#define TM_CLI_H

/* Runs the program; returns the exit status (0 ok, 1 job failed, 2 bad usage). */
int tm_cli_main(int argc, char **argv);

#endif
