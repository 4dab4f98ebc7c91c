/* `transmamba info --controller NAME`: a controller's resolved config and
 * sizes. Definition: cli/info_controller.c. */
#ifndef TM_CLI_INFO_CONTROLLER_H
#define TM_CLI_INFO_CONTROLLER_H

#include "cli/options.h"

/* The info command's run when --controller is given; returns the exit status. */
int tm_cli_info_controller(const tm_cli_args *args);

#endif
