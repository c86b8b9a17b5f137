/* mail.c: delivers login codes. With RESEND_API_KEY set, through Resend's HTTP API; without a
 * mail provider, the code is written to the log for the operator ("[DEV] Verification code
 * for <email>: <code>"), which is how a fresh self-hosted install logs in. */
#include "gateway.h"
#include "mc_log.h"

#include <stdio.h>
#include <string.h>

int gw_mail_code(struct gw_ctx *ctx, const char *email, const char *code)
{
    if (ctx->resend_api_key[0] == '\0') {
        mc_log_info(NULL, "[DEV] Verification code for %s: %s", email, code);
        return 0;
    }
    json_t *mail = json_pack("{ss s[s] ss ss}", "from", ctx->mail_from, "to", email, "subject",
                             "Your Multica login code", "text", "");
    char text[256];
    snprintf(text, sizeof text, "Your Multica login code is %s. It expires in %lld minutes.", code,
             (long long)(ctx->code_ttl_ms / 60000));
    json_object_set_new(mail, "text", json_string(text));
    char auth[512];
    snprintf(auth, sizeof auth, "Bearer %s", ctx->resend_api_key);
    struct _u_request req;
    struct _u_response resp;
    ulfius_init_request(&req);
    ulfius_init_response(&resp);
    ulfius_set_request_properties(&req, U_OPT_HTTP_VERB, "POST", U_OPT_HTTP_URL,
                                  ctx->resend_api_url, U_OPT_TIMEOUT, 10L, U_OPT_HEADER_PARAMETER,
                                  "Authorization", auth, U_OPT_JSON_BODY, mail, U_OPT_NONE);
    int rc =
        ulfius_send_http_request(&req, &resp) == U_OK && resp.status >= 200 && resp.status < 300
            ? 0
            : MC_EIO;
    if (rc != 0)
        mc_log_warn(json_pack("{si ss}", "status", (int)resp.status, "url", ctx->resend_api_url),
                    "mail provider refused the login code");
    ulfius_clean_request(&req);
    ulfius_clean_response(&resp);
    json_decref(mail);
    return rc;
}
