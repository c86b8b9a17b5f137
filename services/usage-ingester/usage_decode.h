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

#endif
