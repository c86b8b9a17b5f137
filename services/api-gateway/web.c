/* web.c: the web page the gateway serves, and the browser sign-in of the multica CLI.
 *
 *   GET /                 the page (sign in by email code, pick a workspace, runtimes, usage,
 *                         tasks live over the WebSocket)
 *   GET /login?cli_callback=<url>&cli_state=<hex>   the same page, which after sign-in sends
 *                         the browser to <url>?token=<JWT>&state=<hex> (multica login and
 *                         multica setup self-host open it; the CLI then mints its token with
 *                         POST /api/tokens)
 *   GET /assets/{file}    its script and style sheet
 *
 * The files (web/) are compiled into the binary (tools/embed), so nothing else runs beside
 * the gateway and nothing is fetched from elsewhere at run time; the chart is the page's own
 * SVG. The page talks to the API with the token it keeps in the browser's storage. */
#include "gateway.h"

#include <string.h>

/* Generated from web/ by tools/embed: a file's text and content type, or NULL. */
const char *gw_web_file(const char *name, const char **type);

int gw_get_web(const struct _u_request *req, struct _u_response *resp, void *ud)
{
    (void)ud;
    const char *file = u_map_get(req->map_url, "file");
    const char *type = NULL;
    const char *text = gw_web_file(file ? file : "index.html", &type);
    if (text == NULL) {
        mc_http_error(resp, 404, MC_HTTP_NOT_FOUND, NULL, "not found");
        return U_CALLBACK_COMPLETE;
    }
    ulfius_set_string_body_response(resp, 200, text);
    u_map_put(resp->map_header, "Content-Type", type);
    u_map_put(resp->map_header, "Cache-Control", "no-cache");
    u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
    /* The sign-in hands a token to the CLI in a URL: no page may frame this one, and no
     * request from it may carry that URL as a referrer. */
    u_map_put(resp->map_header, "Referrer-Policy", "no-referrer");
    u_map_put(resp->map_header, "Content-Security-Policy",
              "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    return U_CALLBACK_COMPLETE;
}
