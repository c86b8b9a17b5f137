/* migrate.h: the subcommands of multica-migrate that live beside main.c. */
#ifndef MG_MIGRATE_H
#define MG_MIGRATE_H

#include <stddef.h>

#include "mc_config.h"

/* `multica-migrate topics ARGS` (argv without the command); returns the exit status. */
int mg_topics(int argc, char **argv);

/* The settings `multica-migrate topics` reads, for --help. */
extern const struct mc_config_var mg_topics_vars[];
extern const size_t mg_ntopics_vars;

#endif
