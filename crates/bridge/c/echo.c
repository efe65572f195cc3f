/* An echo server through tern's C ABI: every message comes back with the same opcode.
 * Usage: echo PORT   (0 picks a free port). Prints the bound port on stdout, then serves
 * until its standard input is closed, then stops cleanly. Built and run by test.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>

#include "tern.h"

struct counters {
    atomic_long messages;
    atomic_long closes;
};

static void on_message(void *env, const TernConn *conn, int32_t is_binary, const uint8_t *data, size_t len) {
    struct counters *c = env;
    atomic_fetch_add(&c->messages, 1);
    int rc = is_binary ? tern_conn_send_binary(conn, data, len)
                       : tern_conn_send_text(conn, (const char *)data, len);
    if (rc != TERN_OK && rc != TERN_ERR_CLOSED) {
        fprintf(stderr, "send failed: %d\n", rc);
    }
}

static uint16_t on_connect(void *env, const TernConn *conn) {
    (void)env;
    char path[256];
    tern_conn_path(conn, path, sizeof path);
    /* Refuse one path, to show rejection, and a query of "deny" on any path. */
    if (path[0] == '/' && path[1] == 'f' && path[2] == 'o' && path[3] == 'r' && path[4] == 'b') {
        return 403;
    }
    char query[64];
    size_t qlen = tern_conn_query(conn, query, sizeof query);
    if (qlen == 4 && memcmp(query, "deny", 4) == 0) {
        return 401;
    }
    return 0;
}

static void on_close(void *env, const TernConn *conn, uint16_t code, const char *reason, size_t len) {
    struct counters *c = env;
    atomic_fetch_add(&c->closes, 1);
    fprintf(stderr, "connection %llu closed: %u %.*s\n", (unsigned long long)tern_conn_id(conn), code, (int)len, reason);
}

int main(int argc, char **argv) {
    unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 9001;
    static struct counters counters;
    TernRuntime *rt = tern_runtime_new(0);
    if (!rt) {
        fprintf(stderr, "runtime: %s\n", tern_last_error());
        return 1;
    }
    TernCallbacks cb = {0};
    cb.on_connect = on_connect;
    cb.on_message = on_message;
    cb.on_close = on_close;
    cb.env = &counters;
    TernOptions opts = tern_options_default();
    opts.bind_addr = "127.0.0.1";
    TernServer *server = tern_serve(rt, &cb, (uint16_t)port, &opts);
    if (!server) {
        fprintf(stderr, "serve: %s\n", tern_last_error());
        tern_runtime_free(rt);
        return 1;
    }
    printf("%u\n", tern_server_port(server));
    fflush(stdout);
    while (getchar() != EOF) {
    }
    tern_server_free(server);
    fprintf(stderr, "stopped after %ld messages, %ld closes\n", atomic_load(&counters.messages), atomic_load(&counters.closes));
    tern_runtime_free(rt);
    return 0;
}
