/*
 * dest_share - the two destinations of one next hop share its connection limit
 *
 * Mail with "TLS-Required: No" (RFC 8689) goes to a destination of its own (tls_optional), with
 * the TLS policy relaxed, beside the next hop's ordinary one; both live on the same worker (the
 * worker is chosen by next hop). Each counted only its own connections, so a node could open
 * twice default_destination_concurrency_limit to one site. While both exist, dest_share_used()
 * counts the connections of both that are still open at the peer (quitting ones included), and
 * a slot is handed over:
 *   - dest_share_room(): at the limit, a sibling with nothing queued says QUIT on one of its idle
 *     connections, so the waiting destination opens one when it is gone;
 *   - dest_share_yield(): a connection done with its job leaves when the sibling has mail and
 *     no connection at all, so neither starves the other;
 *   - dest_share_kick(): a connection gone, the sibling is kicked first (then its own).
 * With destination_lease_database both ask Redis under the next hop's key, so the limit holds
 * across the nodes as well.
 *
 * BOUNDS: a hash lookup per call while the worker has a "TLS-Required: No" destination, none
 * otherwise; nothing kept (the sibling is found again each time); one level of sibling kick at
 * a time (delivery.share_kicking), so two destinations whose connects fail at once do not kick
 * each other without end.
 */
#include "core/delivery/delivery_impl.h"

/* dest_share_sibling - the next hop's other destination, or NULL (at once while the worker has
 * no "TLS-Required: No" destination, the common case: no lookup per job then) */
static struct dest *dest_share_sibling(const struct dest *dst)
{
    if (dst->dv->ndest_tls_optional == 0)
        return NULL;
    return dest_find(dst->dv, dst->key, !dst->tls_optional);
}

int dest_share_used(const struct dest *dst, int alive)
{
    const struct dest *sib = dest_share_sibling(dst);
    return sib ? dst->nconns + sib->nconns : alive;
}

void dest_share_room(struct dest *dst)
{
    struct dest *sib = dest_share_sibling(dst);
    if (!sib || sib->nqueued > 0)
        return;
    for (struct dconn *c = sib->conns; c; c = c->next)
        if (c->state == DC_READY && !c->job) {
            dconn_quit(c); /* dconn_gone() kicks dst */
            return;
        }
}

bool dest_share_yield(const struct dconn *c)
{
    const struct dest *dst = c->dst, *sib = dest_share_sibling(dst);
    int limit = dst->dv->p.concurrency_limit > 0 ? dst->dv->p.concurrency_limit : 1;
    return sib && sib->nqueued > 0 && sib->nconns == 0 && dst->nconns >= limit;
}

void dest_share_kick(struct dest *dst)
{
    struct delivery *dv = dst->dv;
    struct dest *sib = dv->share_kicking ? NULL : dest_share_sibling(dst);
    if (!sib)
        return;
    dv->share_kicking = true; /* a connect of sib's that fails at once ends here again */
    dest_kick(sib);
    dv->share_kicking = false;
}
