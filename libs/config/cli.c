/* cli.c: --help (the settings tables with defaults) and --version, shared by every binary. */
#include "mc_config.h"
#include "mc_version.h"

#include <string.h>

const char *mc_version(void)
{
    return MC_BUILD_VERSION;
}

const char *mc_version_commit(void)
{
    return MC_BUILD_COMMIT;
}

static const char *type_name(enum mc_config_type t)
{
    switch (t) {
    case MC_CFG_INT:
        return "integer";
    case MC_CFG_BOOL:
        return "true/false";
    case MC_CFG_DURATION:
        return "duration";
    case MC_CFG_STRING:
        break;
    }
    return "text";
}

void mc_config_print_help(FILE *f, const struct mc_config_usage *u,
                          const struct mc_config_table *tables, size_t ntables)
{
    fprintf(f, "usage: %s\n\n%s\n", u->synopsis, u->purpose);
    fprintf(f, "\nOptions:\n  --help      print this help and exit\n"
               "  --version   print the version and exit\n");
    size_t nvars = 0;
    for (size_t t = 0; t < ntables; t++)
        nvars += tables[t].n;
    fprintf(f, "\nEnvironment variables%s\n",
            nvars ? " (docs/SELF_HOSTING_ADVANCED.md has the details):" : ": none");
    for (size_t t = 0; t < ntables; t++) {
        if (tables[t].n == 0)
            continue;
        fprintf(f, "\n  %s:\n", tables[t].title);
        for (size_t i = 0; i < tables[t].n; i++) {
            const struct mc_config_var *v = &tables[t].vars[i];
            const char *def = v->def == NULL ? "required" : *v->def ? v->def : "empty";
            fprintf(f, "  %-30s %s, default: %s\n  %-30s %s\n", v->name, type_name(v->type), def,
                    "", v->help && *v->help ? v->help : "(undocumented)");
        }
    }
    fprintf(f, "\n%s %s\n", u->program, mc_version());
}

int mc_config_cli(int argc, char *const *argv, const struct mc_config_usage *u,
                  const struct mc_config_table *tables, size_t ntables)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            mc_config_print_help(stdout, u, tables, ntables);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
            printf("%s %s (commit %s)\n", u->program, mc_version(), mc_version_commit());
            return 1;
        }
    }
    return 0;
}
