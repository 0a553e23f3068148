/*
 * Admin access: the endpoints that change the service's state (other than feedback) ask for
 * `Authorization: Bearer <ADMIN_TOKEN>`. Without the header: 401; with a wrong token, or
 * when the engine has no ADMIN_TOKEN: 403. ADMIN_ALLOW_LOOPBACK=true also lets requests
 * from 127.0.0.0/8 and ::1 in without a header (`make run` sets it; behind a proxy on the
 * same machine every request is loopback, so production leaves it off). A header that is
 * sent is always checked. The token is compared in constant time and never logged.
 */
#include "app.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* Equal in time that depends on the lengths only, not on where the first difference is. */
static bool same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b), n = na > nb ? na : nb;
    unsigned char d = (unsigned char)(na != nb);

    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)((i < na ? a[i] : 0) ^ (i < nb ? b[i] : 0));
    return d == 0;
}

static bool from_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    if (!sa)
        return false;
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

bool tt__admin_allowed(tt_app *app, struct MHD_Connection *c, tt_reply *out)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");

    if (!h) {
        if (app->cfg.admin_allow_loopback && from_loopback(c))
            return true;
        tt__reply_error(out, TT_EUNAUTHORIZED, NULL,
                        "this endpoint needs the header Authorization: Bearer <ADMIN_TOKEN>");
        out->www_authenticate = "Bearer realm=\"tunetrail\"";
        return false;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0) {
        tt__reply_error(out, TT_EUNAUTHORIZED, NULL,
                        "the Authorization header must be: Bearer <ADMIN_TOKEN>");
        out->www_authenticate = "Bearer realm=\"tunetrail\", error=\"invalid_request\"";
        return false;
    }
    if (!app->cfg.admin_token[0]) {
        tt__reply_error(out, TT_EDENIED, NULL,
                        "admin endpoints are disabled: this engine has no ADMIN_TOKEN");
        return false;
    }
    if (!same_secret(h + 7, app->cfg.admin_token)) {
        tt__reply_error(out, TT_EDENIED, NULL, "the admin token is wrong");
        return false;
    }
    return true;
}
