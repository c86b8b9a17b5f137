/* mc_outbox.h: the transactional outbox relay: events written in the transaction of the
 * change they announce, then produced to Kafka, in order, at least once. */
#ifndef MC_OUTBOX_H
#define MC_OUTBOX_H

#include <stdint.h>

#include "mc_db.h"
#include "mc_http.h"
#include "mc_kafka.h"

/* What one service's outbox is: its statements (indices into its own statement table, which
 * the relay's connection prepares) and where the rows go. The rest is the relay's. */
struct mc_outbox_def {
    const char *app; /* application_name of the relay's connection, and its name in logs */
    const struct mc_db_stmt *stmts;
    size_t nstmts;
    /* SELECT pg_try_advisory_xact_lock(<an id of the registry in mc_db.h>): 't' when this
     * replica may relay this round; the lock ends with the round's transaction. */
    int lock_stmt;
    /* $1 = most rows: the oldest rows by seq (no FOR UPDATE needed: the lock above keeps
     * other rounds off them), with the columns seq, key and payload, and topic (a base name)
     * unless every row goes to topic below. */
    int fetch_stmt;
    int delete_stmt;  /* $1 = bigint[] of the seq of rows produced */
    int backlog_stmt; /* SELECT count(*) of the outbox, for the backlog gauge; -1 for none */
    const char *topic;
    int64_t batch_max;    /* rows per round */
    int64_t idle_ms;      /* wait after a round that found fewer rows (a kick ends it at once) */
    int64_t drain_ms;     /* at stop, how long the relay may go on producing what is left */
    mc_metric *published; /* rows produced and acknowledged (a counter; may be NULL) */
    mc_metric *errors;    /* rounds the broker did not acknowledge (a counter; may be NULL) */
    mc_metric *backlog;   /* rows waiting (a gauge, with backlog_stmt; may be NULL) */
};

typedef struct mc_outbox mc_outbox;

/* Creates the relay for def (borrowed: it must outlive the relay) producing with producer
 * (borrowed), over its own connection to url. It does not run yet, but mc_outbox_kick may be
 * called from now on. Never NULL. */
mc_outbox *mc_outbox_new(const char *url, const struct mc_outbox_def *def, mc_producer *producer);

/* Starts the relay's thread. Returns 0 or MC_ENOMEM. */
int mc_outbox_start(mc_outbox *o);

/* Tells the relay that rows were committed, so it runs a round now rather than after idle_ms.
 * Any thread may call it, before the relay starts too. */
void mc_outbox_kick(mc_outbox *o);

/* Stops the relay (after producing what is left, within drain_ms, unless the broker or the
 * database was failing) and frees it. NULL ok. */
void mc_outbox_free(mc_outbox *o);

#endif
