/* hello.c: multica-bench-hello, a bare libmicrohttpd server answering every request with 200
 * "ok": the baseline of the gateway requests/s figure (bench/http.sh).
 *
 *   multica-bench-hello --port N [--bind 127.0.0.1] [--body FILE]
 *
 * --body answers FILE's bytes instead (application/json): the floor of a read whose answer is
 * that text, the same bytes through the same HTTP engine with no work behind them.
 *
 * It starts the daemon the way ulfius 2.7 starts the gateway's (ulfius_start_framework): one
 * thread per connection with an internal polling thread for accepting, upgrades allowed, IPv4
 * on the given address. So the ratio measures what ulfius, the authentication callback, the
 * handler and its database round trips add on top of the same HTTP engine, not a difference of
 * threading models. Prints "listening on ADDR:PORT" on stderr once it accepts, and runs until
 * SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* One static response shared by every request (MHD reference-counts it). */
static struct MHD_Response *ok;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload;
    /* MHD calls twice for a request: first with the headers only. Answering on the second
     * call, as ulfius does, keeps the two servers' request handling comparable. */
    if (*state == NULL) {
        *state = conn;
        return MHD_YES;
    }
    *upload_size = 0;
    return MHD_queue_response(conn, MHD_HTTP_OK, ok);
}

int main(int argc, char **argv)
{
    const char *bind_addr = "127.0.0.1";
    const char *body_file = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--bind") == 0)
            bind_addr = argv[i + 1];
        else if (strcmp(argv[i], "--body") == 0)
            body_file = argv[i + 1];
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (port <= 0 || port > 65535 || inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "usage: multica-bench-hello --port N [--bind IPV4]\n");
        return 2;
    }
    /* The stop signals stay blocked except inside sigsuspend, so one arriving between the
     * check of `stop` and the wait cannot be lost. MHD's threads inherit the mask. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t stops, waiting;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigprocmask(SIG_BLOCK, &stops, &waiting);

    int rc = 1;
    struct MHD_Daemon *d = NULL;
    char *body = NULL;
    size_t body_len = 0;
    if (body_file != NULL) {
        FILE *f = fopen(body_file, "rb");
        if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (body_len = (size_t)ftell(f)) == 0 ||
            fseek(f, 0, SEEK_SET) != 0 || (body = malloc(body_len)) == NULL ||
            fread(body, 1, body_len, f) != body_len) {
            fprintf(stderr, "multica-bench-hello: cannot read %s\n", body_file);
            if (f != NULL)
                fclose(f);
            free(body);
            return 2;
        }
        fclose(f);
    }
    ok = body ? MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    if (ok == NULL || MHD_add_response_header(ok, "Content-Type",
                                              body ? "application/json" : "text/plain") != MHD_YES)
        goto cleanup;
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                             MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG,
                         (uint16_t)port, NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                         MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "multica-bench-hello: cannot listen on %s:%d\n", bind_addr, port);
        goto cleanup;
    }
    fprintf(stderr, "listening on %s:%d\n", bind_addr, port);
    while (!stop)
        sigsuspend(&waiting);
    rc = 0;
cleanup:
    if (d != NULL)
        MHD_stop_daemon(d);
    if (ok != NULL)
        MHD_destroy_response(ok);
    free(body);
    return rc;
}
