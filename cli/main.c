/* The `transmamba` program: main() only; the subcommands live in cli/cli.c. */
#include "cli/cli.h"

int main(int argc, char **argv) { return tm_cli_main(argc, argv); }
