/* usage_decode.h: the ingester's direct UsageReported decoder (usage_decode.c). */
#ifndef UI_USAGE_DECODE_H
#define UI_USAGE_DECODE_H

#include "mc_proto.h"

/* Decodes buf as a UsageReported event, checking the fields of usage_reported.schema.json
 * (and the envelope it includes) directly. Returns 0 with ev filled as mc_event_decode fills
 * it (mc_event_clear releases it), or MC_EINVAL when the message is anything else or breaks
 * the schema: then mc_event_decode decides, and names the reason. It never accepts what the
 * schema refuses. */
int ui_usage_decode(const void *buf, size_t len, struct mc_event *ev);

/* One UsageReported as the batch takes it: the event id and the body. */
struct ui_usage {
    char id[MC_UUID_STRLEN];
    struct mc_usage_reported u;
};

/* The common case without a JSON tree: a UsageReported whose strings are printable ASCII
 * without escapes, scanned in one pass and checked as ui_usage_decode checks it. Returns 0
 * with out filled as mc_usage_reported_from fills it (provider lowercased), or MC_EINVAL for
 * anything else, which then goes to ui_usage_decode. It never accepts what the schema
 * refuses. */
int ui_usage_scan(const void *buf, size_t len, struct ui_usage *out);

#endif
