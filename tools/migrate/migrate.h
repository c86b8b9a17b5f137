/* migrate.h: the subcommands of multica-migrate that live beside main.c. */
#ifndef MG_MIGRATE_H
#define MG_MIGRATE_H

/* `multica-migrate topics ARGS` (argv without the command); returns the exit status. */
int mg_topics(int argc, char **argv);

#endif
