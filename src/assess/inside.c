/*
 * The units that apply from inside the device (GET /api/v1/setup-check):
 * the device program gathers the facts, the shared judges decide.
 */
#include <stdio.h>
#include <string.h>

#include "hearth/assess.h"

void hearth_assess_inside(const hearth_assess_inside_facts *f, hearth_assess_report *r)
{
    char ev[HEARTH_ASSESS_EVIDENCE_MAX];
    memset(r, 0, sizeof *r);
    snprintf(r->target, sizeof r->target, "device (inside)");
    r->started = r->finished = f->now;

    hearth_verdict v = hearth_assess_judge_setup(f->set_up, f->admins, ev, sizeof ev);
    hearth_assess_add(r, "setup-state", v, "%s", ev);

    if (!f->ports_known) {
        hearth_assess_add(r, "open-ports", HEARTH_VERDICT_INCONCLUSIVE,
                          "the listening sockets could not be read on this device");
    } else {
        v = hearth_assess_judge_ports(f->listening, f->n_listening, f->declared, f->n_declared,
                                      ev, sizeof ev);
        hearth_assess_add(r, "open-ports", v,
                          "listening TCP ports of the device's network namespace (/proc/net); %s",
                          ev);
    }

    v = hearth_assess_judge_security_txt(f->sectxt_status, f->sectxt_type, f->sectxt_body,
                                         f->sectxt_len, f->now, ev, sizeof ev);
    hearth_assess_add(r, "security-txt", v, "%s", ev);
}
