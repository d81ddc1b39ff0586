/* ovlbox run: the command (see run.c). */
#ifndef OVLBOX_RUN_H
#define OVLBOX_RUN_H

/* argv[0] is "run". Returns ovlbox's exit status: the action's, or one of cli.h's. */
int cmd_run(int argc, char **argv);

#endif
