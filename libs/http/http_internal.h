/* http_internal.h: what http.c and reqmetrics.c share inside libs/http. */
#ifndef MC_HTTP_INTERNAL_H
#define MC_HTTP_INTERNAL_H

#include "mc_http.h"

/* The request metrics of one route table: per route, counters and latency histograms by
 * status, created on a status's first request. The table and user_data are borrowed and must
 * outlive the server. */
struct route_metrics;
struct route_metrics *mc_http_route_metrics_new(const struct mc_http_route *routes, size_t n,
                                                void *user_data);
void mc_http_route_metrics_free(struct route_metrics *rm);

/* The ulfius user_data of route i, for mc_http_measured. */
void *mc_http_route_metrics_at(struct route_metrics *rm, size_t i);

/* What mc_http_measured runs for route i: call(req, resp, ctx) (the credential guard and the
 * handler); until bound, the route's handler with the table's user_data. */
void mc_http_route_metrics_bind(struct route_metrics *rm, size_t i,
                                int (*call)(const struct _u_request *, struct _u_response *,
                                            void *),
                                void *ctx);

/* The callback every route is registered with: runs the route's handler with its user_data,
 * and when the request is done (the handler did not return U_CALLBACK_CONTINUE) counts it and
 * observes its latency under the route's method and pattern and the response status. */
int mc_http_measured(const struct _u_request *req, struct _u_response *resp, void *ud);

#endif
