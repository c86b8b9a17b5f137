/* embed.c: build-time generator that compiles migrations/ and proto/schemas/ into C tables,
 * so every binary carries the exact SQL and schemas it was built with.
 *
 *   embed migrations OUT.c migrations/<schema>/<NNNN>_<slug>.(up|down).sql ...
 *                          migrations/<schema>/functions/<name>.sql ...
 *   embed schemas    OUT.c proto/schemas/<name>.schema.json ...
 *   embed web        OUT.c web/<name>.(html|js|css|svg) ...   the gateway's page, as
 *                          gw_web_file(name, &type): its text, or NULL for no such file
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct file {
    char schema[64];
    int version;
    char slug[160];
    char *up;
    char *down;
    char name[128];
    char *text;
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot read\n", path);
        exit(1);
    }
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void literal(FILE *out, const char *s)
{
    fputs("\"", out);
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '\\':
            fputs("\\\\", out);
            break;
        case '"':
            fputs("\\\"", out);
            break;
        case '\n':
            fputs(p[1] ? "\\n\"\n    \"" : "\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\r':
            break;
        case '?':
            fputs("\\?", out); /* no trigraphs */
            break;
        default:
            fputc(*p, out);
        }
    }
    fputs("\"", out);
}

static int cmp_mig(const void *a, const void *b)
{
    const struct file *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    return c ? c : x->version - y->version;
}

/* A function file: migrations/<schema>/functions/<name>.sql. */
struct function {
    char schema[64];
    char name[128];
    char *text;
};

static int cmp_fn(const void *a, const void *b)
{
    const struct function *x = a, *y = b;
    int c = strcmp(x->schema, y->schema);
    return c ? c : strcmp(x->name, y->name);
}

/* Takes a function file apart; 1 when path is one (filled in), 0 when it is not, -1 when it
 * looks like one and is malformed. */
static int function_file(const char *path, struct function *f)
{
    const char *mark = strstr(path, "/functions/");
    if (mark == NULL)
        return 0;
    const char *sdir = mark;
    while (sdir > path && *(sdir - 1) != '/')
        sdir--;
    const char *name = mark + strlen("/functions/");
    size_t len = strlen(name);
    if (len <= 4 || strcmp(name + len - 4, ".sql") != 0 || strchr(name, '/') != NULL ||
        (size_t)(mark - sdir) >= sizeof f->schema || len - 4 >= sizeof f->name)
        return -1;
    snprintf(f->schema, sizeof f->schema, "%.*s", (int)(mark - sdir), sdir);
    snprintf(f->name, sizeof f->name, "%.*s", (int)(len - 4), name);
    f->text = slurp(path);
    return 1;
}

static void emit_functions(FILE *out, const struct function *fns, int nfns)
{
    for (int i = 0; i < nfns; i++) {
        if (i == 0 || strcmp(fns[i].schema, fns[i - 1].schema) != 0)
            fprintf(out, "static const struct mc_sql_function fn_%s[] = {\n", fns[i].schema);
        fprintf(out, "  {\"%s\",\n    ", fns[i].name);
        literal(out, fns[i].text);
        fputs("},\n", out);
        if (i + 1 == nfns || strcmp(fns[i].schema, fns[i + 1].schema) != 0)
            fputs("};\n\n", out);
    }
}

static bool has_functions(const struct function *fns, int nfns, const char *schema)
{
    for (int i = 0; i < nfns; i++)
        if (strcmp(fns[i].schema, schema) == 0)
            return true;
    return false;
}

static int migrations(FILE *out, int n, char **paths)
{
    struct file *files = calloc((size_t)n, sizeof *files);
    struct function *fns = calloc((size_t)n, sizeof *fns);
    int count = 0, nfns = 0;
    for (int i = 0; i < n; i++) {
        int is_fn = function_file(paths[i], &fns[nfns]);
        if (is_fn < 0) {
            fprintf(stderr, "%s: expected <schema>/functions/<name>.sql\n", paths[i]);
            return 1;
        }
        if (is_fn > 0) {
            nfns++;
            continue;
        }
        /* .../<schema>/<NNNN>_<slug>.(up|down).sql */
        const char *base = strrchr(paths[i], '/');
        if (base == NULL || base == paths[i])
            goto bad;
        const char *sdir = base - 1;
        while (sdir > paths[i] && *(sdir - 1) != '/')
            sdir--;
        char schema[64];
        snprintf(schema, sizeof schema, "%.*s", (int)(base - sdir), sdir);
        base++;
        int version;
        char rest[160];
        if (sscanf(base, "%d_%159s", &version, rest) != 2)
            goto bad;
        char *dot = strstr(rest, ".up.sql");
        int is_up = dot != NULL;
        if (!is_up)
            dot = strstr(rest, ".down.sql");
        if (dot == NULL || dot[is_up ? 7 : 9] != '\0')
            goto bad;
        *dot = '\0';
        struct file *f = NULL;
        for (int k = 0; k < count; k++)
            if (strcmp(files[k].schema, schema) == 0 && files[k].version == version)
                f = &files[k];
        if (f == NULL) {
            f = &files[count++];
            snprintf(f->schema, sizeof f->schema, "%s", schema);
            snprintf(f->slug, sizeof f->slug, "%s", rest);
            f->version = version;
        } else if (strcmp(f->slug, rest) != 0) {
            fprintf(stderr, "%s: version %d has two names\n", paths[i], version);
            return 1;
        }
        *(is_up ? &f->up : &f->down) = slurp(paths[i]);
        continue;
    bad:
        fprintf(stderr, "%s: expected <schema>/<NNNN>_<slug>.up.sql or .down.sql\n", paths[i]);
        return 1;
    }
    qsort(files, (size_t)count, sizeof *files, cmp_mig);
    qsort(fns, (size_t)nfns, sizeof *fns, cmp_fn);
    fputs("/* Generated by tools/embed from migrations/; do not edit. */\n"
          "#include \"mc_db.h\"\n\n",
          out);
    emit_functions(out, fns, nfns);
    int nslices = 0;
    for (int i = 0; i < count; i++) {
        if (files[i].up == NULL || files[i].down == NULL) {
            fprintf(stderr, "migrations/%s/%04d_%s: needs both .up.sql and .down.sql\n",
                    files[i].schema, files[i].version, files[i].slug);
            return 1;
        }
        if (i == 0 || strcmp(files[i].schema, files[i - 1].schema) != 0)
            fprintf(out, "static const struct mc_migration mig_%s[] = {\n", files[i].schema);
        fprintf(out, "  {%d, \"%s\",\n    ", files[i].version, files[i].slug);
        literal(out, files[i].up);
        fputs(",\n    ", out);
        literal(out, files[i].down);
        fputs("},\n", out);
        if (i + 1 == count || strcmp(files[i].schema, files[i + 1].schema) != 0) {
            fputs("};\n\n", out);
            nslices++;
        }
    }
    fputs("const struct mc_slice mc_slices[] = {\n", out);
    for (int i = 0; i < count; i++) {
        if (i > 0 && strcmp(files[i].schema, files[i - 1].schema) == 0)
            continue;
        const char *s = files[i].schema;
        fprintf(out, "  {\"%s\", \"multica_%s\", mig_%s, sizeof mig_%s / sizeof mig_%s[0], ", s, s,
                s, s, s);
        if (has_functions(fns, nfns, s))
            fprintf(out, "fn_%s, sizeof fn_%s / sizeof fn_%s[0]},\n", s, s, s);
        else
            fputs("NULL, 0},\n", out);
    }
    fprintf(out, "};\nconst size_t mc_nslices = %d;\n", nslices);
    return 0;
}

static int schemas(FILE *out, int n, char **paths)
{
    fputs("/* Generated by tools/embed from proto/schemas/; do not edit. */\n"
          "#include \"mc_proto.h\"\n\n"
          "const struct mc_schema_file mc_schema_files[] = {\n",
          out);
    for (int i = 0; i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        char *text = slurp(paths[i]);
        fprintf(out, "  {\"%s\",\n    ", base);
        literal(out, text);
        fputs("},\n", out);
        free(text);
    }
    fprintf(out, "};\nconst size_t mc_nschema_files = %d;\n", n);
    return 0;
}

static const char *content_type(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
    };
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        size_t n = strlen(types[i][0]);
        if (len > n && strcmp(name + len - n, types[i][0]) == 0)
            return types[i][1];
    }
    return NULL;
}

static int web(FILE *out, int n, char **paths)
{
    fputs("/* Generated by tools/embed from web/; do not edit. */\n"
          "#include <stddef.h>\n#include <string.h>\n\n"
          "const char *gw_web_file(const char *name, const char **type);\n\n"
          "static const struct {\n    const char *name, *type, *text;\n} files[] = {\n",
          out);
    for (int i = 0; i < n; i++) {
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        const char *type = content_type(base);
        if (type == NULL) {
            fprintf(stderr, "%s: only .html, .js, .css and .svg files are served\n", paths[i]);
            return 1;
        }
        char *text = slurp(paths[i]);
        fprintf(out, "  {\"%s\", \"%s\",\n    ", base, type);
        literal(out, text);
        fputs("},\n", out);
        free(text);
    }
    fputs("};\n\nconst char *gw_web_file(const char *name, const char **type)\n{\n"
          "    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)\n"
          "        if (strcmp(files[i].name, name) == 0) {\n"
          "            *type = files[i].type;\n"
          "            return files[i].text;\n"
          "        }\n"
          "    return NULL;\n}\n",
          out);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: embed migrations|schemas|web OUT.c FILE...\n");
        return 2;
    }
    FILE *out = fopen(argv[2], "w");
    if (out == NULL) {
        perror(argv[2]);
        return 1;
    }
    int rc = strcmp(argv[1], "migrations") == 0 ? migrations(out, argc - 3, argv + 3)
             : strcmp(argv[1], "schemas") == 0  ? schemas(out, argc - 3, argv + 3)
             : strcmp(argv[1], "web") == 0      ? web(out, argc - 3, argv + 3)
                                                : 2;
    fclose(out);
    if (rc != 0)
        remove(argv[2]);
    return rc;
}
