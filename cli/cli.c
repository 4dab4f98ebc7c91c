#include "cli/cli.h"
#include <stdio.h>
int tm_cli_main(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "transmamba: skeleton\n"); return 2; }
