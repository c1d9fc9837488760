/*
 * test_restrict - the client/helo/sender/data/end-of-data restriction lists of policy_relay:
 * each restriction against sessions and recipients, with Postfix's codes and texts, where the
 * lists run (smtpd_delay_reject), and the configuration errors that stop start-up
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/policy_hostname.h"
#include "policy/policy_relay.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define RCPT_STAGE POLICY_STAGE_COUNT /* the case runs policy_relay_check() */

static char *const mynetworks[] = {"127.0.0.0/8"};
static char *const mydest[] = {"tern.example, localhost"};
static const char *login_maps =
    "inline:{ alice@snd.example=alice, { bob@snd.example = bob, Alice }, @team.example=carol }";

/* sessions: what the policy may know at the time of the check */
enum sess { S_LOCAL, S_EXT, S_ALICE, S_CAROL, S_NOHELO, S_UTF8 };
static const struct policy_client sessions[] = {
    [S_LOCAL] = {.addr = "127.0.0.1",
                 .name = "localhost",
                 .helo = "app.example",
                 .sender = "a@snd.example"},
    [S_EXT] = {.addr = "203.0.113.9",
               .name = "mx.bad.example",
               .helo = "mx.bad.example",
               .sender = "a@snd.example"},
    [S_ALICE] = {.addr = "203.0.113.9",
                 .name = "unknown",
                 .helo = "pc.example",
                 .sender = "alice@snd.example",
                 .sasl_authenticated = true,
                 .sasl_username = "alice"},
    [S_CAROL] = {.addr = "203.0.113.9",
                 .name = "unknown",
                 .helo = "pc.example",
                 .sender = "c@team.example",
                 .sasl_authenticated = true,
                 .sasl_username = "carol"},
    [S_NOHELO] = {.addr = "203.0.113.9", .name = "unknown"},
    [S_UTF8] = {.addr = "127.0.0.1",
                .name = "localhost",
                .helo = "app.example",
                .sender = "a@b\xc3\xbc.example",
                .smtputf8 = true},
};

/* a session with one field replaced */
struct override {
    const char *helo, *sender, *user;
};

static const struct {
    int stage;        /* enum policy_stage, or RCPT_STAGE */
    const char *list; /* the list of that stage (RCPT_STAGE: smtpd_recipient_restrictions) */
    enum sess sess;
    struct override o;
    const char *rcpt; /* NULL: none */
    int code;         /* 0: no objection */
    const char *dsn, *text;
} cases[] = {
    /* generic reject names what its list judges */
    {POLICY_STAGE_CLIENT,
     "reject",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<mx.bad.example[203.0.113.9]>: Client host rejected: Access denied"},
    {POLICY_STAGE_HELO,
     "reject",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<mx.bad.example>: Helo command rejected: Access denied"},
    {POLICY_STAGE_SENDER,
     "reject",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<a@snd.example>: Sender address rejected: Access denied"},
    {POLICY_STAGE_DATA,
     "reject",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<DATA>: Data command rejected: Access denied"},
    {POLICY_STAGE_EOD,
     "reject",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<END-OF-MESSAGE>: End-of-data rejected: Access denied"},
    {POLICY_STAGE_CLIENT, "permit_mynetworks, reject", S_LOCAL, {0}, NULL, 0, NULL, NULL},
    {POLICY_STAGE_CLIENT, "", S_EXT, {0}, NULL, 0, NULL, NULL},
    /* check_client_access: name, parent domain, address, octet prefix */
    {POLICY_STAGE_CLIENT,
     "check_client_access inline:{ bad.example=REJECT }",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<mx.bad.example[203.0.113.9]>: Client host rejected: Access denied"},
    {POLICY_STAGE_CLIENT,
     "check_client_access inline:{ { 203.0.113=450 go slow } }",
     S_EXT,
     {0},
     NULL,
     450,
     "4.7.1",
     "<mx.bad.example[203.0.113.9]>: Client host rejected: go slow"},
    {POLICY_STAGE_CLIENT,
     "check_client_access inline:{ 203.0.113.9=OK }, reject",
     S_EXT,
     {0},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_CLIENT,
     "check_client_access cidr:{ { 203.0.113.0/24 REJECT } }",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<mx.bad.example[203.0.113.9]>: Client host rejected: Access denied"},
    {POLICY_STAGE_CLIENT,
     "check_client_access inline:{ 198.51.100.1=REJECT }",
     S_EXT,
     {0},
     NULL,
     0,
     NULL,
     NULL},
    /* check_helo_access */
    {POLICY_STAGE_HELO,
     "check_helo_access inline:{ { bad.example=REJECT no thanks } }",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<mx.bad.example>: Helo command rejected: no thanks"},
    {POLICY_STAGE_HELO,
     "check_helo_access inline:{ bad.example=REJECT }",
     S_NOHELO,
     {0},
     NULL,
     0,
     NULL,
     NULL},
    /* check_sender_access: address, domain, parent, localpart@, <> */
    {POLICY_STAGE_SENDER,
     "check_sender_access inline:{ a@snd.example=REJECT }",
     S_EXT,
     {0},
     NULL,
     554,
     "5.7.1",
     "<a@snd.example>: Sender address rejected: Access denied"},
    {POLICY_STAGE_SENDER,
     "check_sender_access inline:{ { example=550 5.7.0 nope } }",
     S_EXT,
     {0},
     NULL,
     550,
     "5.7.0",
     "<a@snd.example>: Sender address rejected: nope"},
    {POLICY_STAGE_SENDER,
     "check_sender_access inline:{ a@=DEFER }",
     S_EXT,
     {0},
     NULL,
     450,
     "4.7.1",
     "<a@snd.example>: Sender address rejected: Access denied"},
    {POLICY_STAGE_SENDER,
     "check_sender_access inline:{ <>=REJECT }",
     S_EXT,
     {.sender = ""},
     NULL,
     554,
     "5.7.1",
     "<>: Sender address rejected: Access denied"},
    {POLICY_STAGE_SENDER,
     "check_sender_access inline:{ a@snd.example=OK }, reject",
     S_EXT,
     {0},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER,
     "check_sender_access inline:{ a@snd.example=REJECT }",
     S_NOHELO,
     {0},
     NULL,
     0,
     NULL,
     NULL},
    /* check_recipient_access needs a recipient */
    {RCPT_STAGE,
     "check_recipient_access inline:{ far.example=REJECT }, permit",
     S_LOCAL,
     {0},
     "<u@x.far.example>",
     554,
     "5.7.1",
     "<u@x.far.example>: Recipient address rejected: Access denied"},
    {POLICY_STAGE_SENDER,
     "check_recipient_access inline:{ far.example=REJECT }",
     S_LOCAL,
     {0},
     NULL,
     0,
     NULL,
     NULL},
    /* non-FQDN and invalid names */
    {POLICY_STAGE_SENDER,
     "reject_non_fqdn_sender",
     S_EXT,
     {.sender = "user"},
     NULL,
     504,
     "5.5.2",
     "<user>: Sender address rejected: need fully-qualified address"},
    {POLICY_STAGE_SENDER,
     "reject_non_fqdn_sender",
     S_EXT,
     {.sender = "user@host"},
     NULL,
     504,
     "5.5.2",
     "<user@host>: Sender address rejected: need fully-qualified address"},
    {POLICY_STAGE_SENDER, "reject_non_fqdn_sender", S_EXT, {.sender = ""}, NULL, 0, NULL, NULL},
    {POLICY_STAGE_SENDER,
     "reject_non_fqdn_sender",
     S_EXT,
     {.sender = "u@[192.0.2.1]"},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER,
     "reject_non_fqdn_sender",
     S_EXT,
     {.sender = "u@host.example."},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER, "reject_non_fqdn_sender", S_UTF8, {0}, NULL, 0, NULL, NULL},
    {RCPT_STAGE,
     "reject_non_fqdn_recipient, permit",
     S_LOCAL,
     {0},
     "<postmaster>",
     504,
     "5.5.2",
     "<postmaster>: Recipient address rejected: need fully-qualified address"},
    {RCPT_STAGE,
     "reject_non_fqdn_recipient, permit",
     S_LOCAL,
     {0},
     "<u@far.example>",
     0,
     NULL,
     NULL},
    {POLICY_STAGE_HELO,
     "reject_non_fqdn_helo_hostname",
     S_EXT,
     {.helo = "nodot"},
     NULL,
     504,
     "5.5.2",
     "<nodot>: Helo command rejected: need fully-qualified hostname"},
    {POLICY_STAGE_HELO,
     "reject_non_fqdn_hostname",
     S_EXT,
     {.helo = "[192.0.2.1]"},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_HELO,
     "reject_non_fqdn_helo_hostname",
     S_EXT,
     {.helo = "a.example."},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_HELO,
     "reject_invalid_helo_hostname",
     S_EXT,
     {.helo = "bad_name!"},
     NULL,
     501,
     "5.5.2",
     "<bad_name!>: Helo command rejected: Invalid name"},
    {POLICY_STAGE_HELO,
     "reject_invalid_helo_hostname",
     S_EXT,
     {.helo = "-a.example"},
     NULL,
     501,
     "5.5.2",
     "<-a.example>: Helo command rejected: Invalid name"},
    {POLICY_STAGE_HELO,
     "reject_invalid_hostname",
     S_EXT,
     {.helo = "[192.0.2.1]"},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_HELO,
     "reject_invalid_helo_hostname",
     S_EXT,
     {.helo = "nodot"},
     NULL,
     0,
     NULL,
     NULL},
    /* sender login mismatch: owners by address and by @domain, case-insensitive names */
    {POLICY_STAGE_SENDER, "reject_sender_login_mismatch", S_ALICE, {0}, NULL, 0, NULL, NULL},
    {POLICY_STAGE_SENDER,
     "reject_sender_login_mismatch",
     S_ALICE,
     {.sender = "bob@snd.example"},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER,
     "reject_sender_login_mismatch",
     S_ALICE,
     {.sender = "x@snd.example"},
     NULL,
     553,
     "5.7.1",
     "<x@snd.example>: Sender address rejected: not owned by user alice"},
    {POLICY_STAGE_SENDER, "reject_sender_login_mismatch", S_CAROL, {0}, NULL, 0, NULL, NULL},
    {POLICY_STAGE_SENDER,
     "reject_sender_login_mismatch",
     S_CAROL,
     {.sender = "alice@snd.example"},
     NULL,
     553,
     "5.7.1",
     "<alice@snd.example>: Sender address rejected: not owned by user carol"},
    {POLICY_STAGE_SENDER,
     "reject_sender_login_mismatch",
     S_EXT,
     {.sender = "bob@snd.example"},
     NULL,
     553,
     "5.7.1",
     "<bob@snd.example>: Sender address rejected: not logged in"},
    {POLICY_STAGE_SENDER, "reject_sender_login_mismatch", S_EXT, {0}, NULL, 0, NULL, NULL},
    {POLICY_STAGE_SENDER,
     "reject_sender_login_mismatch",
     S_ALICE,
     {.sender = ""},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER,
     "reject_known_sender_login_mismatch",
     S_ALICE,
     {.sender = "x@snd.example"},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER,
     "reject_authenticated_sender_login_mismatch",
     S_EXT,
     {.sender = "bob@snd.example"},
     NULL,
     0,
     NULL,
     NULL},
    {POLICY_STAGE_SENDER,
     "reject_unauthenticated_sender_login_mismatch",
     S_ALICE,
     {.sender = "x@snd.example"},
     NULL,
     0,
     NULL,
     NULL},
    /* no local recipients: mydestination is refused, even for trusted clients */
    {RCPT_STAGE,
     "permit_mynetworks",
     S_LOCAL,
     {0},
     "<root@localhost>",
     550,
     "5.1.1",
     "<root@localhost>: Recipient address rejected: User unknown in local recipient table"},
    {RCPT_STAGE,
     "reject_unlisted_recipient, permit",
     S_LOCAL,
     {0},
     "<x@TERN.example>",
     550,
     "5.1.1",
     "<x@tern.example>: Recipient address rejected: User unknown in local recipient table"},
    {RCPT_STAGE,
     "reject_unlisted_recipient, permit",
     S_LOCAL,
     {0},
     "<x@far.example>",
     0,
     NULL,
     NULL},
    {RCPT_STAGE,
     "",
     S_EXT,
     {0},
     "<x@sub.tern.example>",
     554,
     "5.7.1",
     "<x@sub.tern.example>: Relay access denied"},
};

/* new_policy - a policy with list in the case's stage */
static struct policy_relay *new_policy(int stage, const char *list, bool delay)
{
    struct policy_relay_params p = {
        .mynetworks = mynetworks,
        .nmynet = N(mynetworks),
        .mydestination = mydest,
        .nmydest = N(mydest),
        .sender_login_maps = login_maps,
        .delay_reject = delay,
    };
    char *rcpt_items[1] = {(char *)list};
    if (stage == RCPT_STAGE) {
        p.rcpt_restrictions = rcpt_items;
        p.nrcpt = 1;
    } else {
        p.stage_restrictions[stage] = list;
    }
    struct policy_relay *pr = NULL;
    char *err = NULL;
    int rc = policy_relay_new_params(&pr, &p, &err);
    if (rc < 0)
        fail_msg("%s: %s", list, err ? err : "?");
    free(err);
    return pr;
}

static void test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < N(cases); i++) {
        struct policy_client c = sessions[cases[i].sess];
        if (cases[i].o.helo)
            c.helo = cases[i].o.helo;
        if (cases[i].o.sender)
            c.sender = cases[i].o.sender;
        struct policy_addr a;
        if (cases[i].rcpt)
            assert_int_equal(policy_addr_parse(cases[i].rcpt, false, &a), 0);
        struct policy_relay *pr = new_policy(cases[i].stage, cases[i].list, false);
        struct policy_verdict v;
        if (cases[i].stage == RCPT_STAGE)
            policy_relay_check(pr, &c, &a, &v);
        else
            policy_relay_check_stage(pr, cases[i].stage, &c, cases[i].rcpt ? &a : NULL, &v);
        if (v.code != cases[i].code ||
            (cases[i].code && (strcmp(v.dsn, cases[i].dsn) || strcmp(v.text, cases[i].text))))
            fail_msg("case %zu (%s): got %d %s %s", i, cases[i].list, v.code, v.dsn, v.text);
        policy_relay_free(pr);
    }
}

/* with smtpd_delay_reject the client/helo/sender lists answer at RCPT; their permit is no relay */
static void test_delay_reject(void **state)
{
    (void)state;
    struct policy_addr far, mine;
    assert_int_equal(policy_addr_parse("<u@far.example>", false, &far), 0);
    assert_int_equal(policy_addr_parse("<u@tern.example>", false, &mine), 0);
    const struct policy_client *ext = &sessions[S_EXT];
    struct policy_verdict v;
    for (int stage = POLICY_STAGE_CLIENT; stage <= POLICY_STAGE_SENDER; stage++) {
        struct policy_relay *pr = new_policy(stage, "reject", true);
        assert_true(policy_relay_delay_reject(pr));
        policy_relay_check(pr, ext, &far, &v);
        assert_int_equal(v.code, 554);
        assert_non_null(strstr(v.text, "rejected: Access denied"));
        policy_relay_free(pr);
        pr = new_policy(stage, "reject", false);
        assert_false(policy_relay_delay_reject(pr));
        policy_relay_check(pr, &sessions[S_LOCAL], &far, &v);
        assert_int_equal(v.code, 0); /* not run at RCPT: the caller ran it earlier */
        policy_relay_free(pr);
        pr = new_policy(stage, "permit", true);
        policy_relay_check(pr, ext, &far, &v);
        assert_int_equal(v.code, 554);
        assert_string_equal(v.text, "<u@far.example>: Relay access denied");
        policy_relay_free(pr);
    }
    /* the data lists never run at RCPT */
    struct policy_relay *pr = new_policy(POLICY_STAGE_DATA, "reject", true);
    policy_relay_check(pr, &sessions[S_LOCAL], &far, &v);
    assert_int_equal(v.code, 0);
    policy_relay_free(pr);
}

/* bad configurations stop start-up with the culprit's name */
static void test_errors(void **state)
{
    (void)state;
    static const struct {
        int stage;
        const char *list;
        const char *logins;
        const char *want;
    } bad[] = {
        {POLICY_STAGE_SENDER, "reject_unknown_recipient_domain", NULL,
         "smtpd_sender_restrictions: tern does not implement the restriction "
         "\"reject_unknown_recipient_domain\""},
        {POLICY_STAGE_CLIENT, "reject_rbl_client zen.example", NULL,
         "tern does not implement the restriction \"reject_rbl_client\""},
        {POLICY_STAGE_HELO, "no_such_thing", NULL,
         "smtpd_helo_restrictions: unknown restriction \"no_such_thing\""},
        {POLICY_STAGE_SENDER, "check_sender_access", NULL, "check_sender_access needs a table"},
        {POLICY_STAGE_DATA, "check_client_access nothing", NULL,
         "check_client_access needs a table (type:name), not nothing"},
        {POLICY_STAGE_SENDER, "reject_sender_login_mismatch", NULL,
         "smtpd_sender_login_maps is empty"},
        {RCPT_STAGE, "reject_sender_login_mismatch", NULL, "smtpd_sender_login_maps is empty"},
        {POLICY_STAGE_SENDER, "permit", "texthash:/nonexistent/logins", "/nonexistent/logins"},
    };
    for (size_t i = 0; i < N(bad); i++) {
        struct policy_relay_params p = {.mynetworks = mynetworks, .nmynet = N(mynetworks)};
        char *items[1] = {(char *)bad[i].list};
        if (bad[i].stage == RCPT_STAGE) {
            p.rcpt_restrictions = items;
            p.nrcpt = 1;
        } else {
            p.stage_restrictions[bad[i].stage] = bad[i].list;
        }
        p.sender_login_maps = bad[i].logins;
        struct policy_relay *pr = NULL;
        char *err = NULL;
        assert_true(policy_relay_new_params(&pr, &p, &err) < 0);
        assert_null(pr);
        if (err == NULL || strstr(err, bad[i].want) == NULL)
            fail_msg("case %zu: \"%s\" not in \"%s\"", i, bad[i].want, err ? err : "(null)");
        free(err);
    }
}

/* reject_unknown_sender_domain: what to look up, and the answer given each DNS outcome */
static void test_unknown_sender_domain(void **state)
{
    (void)state;
    enum { DIP = POLICY_TEMPFAIL_DEFER_IF_PERMIT, DEF = POLICY_TEMPFAIL_DEFER };
    static const struct {
        int stage; /* where the list sits; RCPT_STAGE: smtpd_recipient_restrictions */
        const char *list;
        bool delay;
        const char *sender;
        enum policy_dns dns;
        int reject_code; /* unknown_address_reject_code; 0: default */
        int action;
        const char *rcpt;
        const char *lookup; /* the domain the verdict asks for; NULL: none */
        int code;
        const char *dsn, *text;
    } t[] = {
        /* not looked up yet: the evaluation stops and names the domain (lower case, no dot) */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", true, "u@Snd.EXAMPLE.",
         POLICY_DNS_UNKNOWN, 0, DIP, "<r@tern.example>", "snd.example", 451, "4.4.3",
         "Temporary lookup failure"},
        /* a permit before it: no lookup, as Postfix evaluates lazily */
        {POLICY_STAGE_SENDER, "permit_mynetworks, reject_unknown_sender_domain", true,
         "u@snd.example", POLICY_DNS_UNKNOWN, 0, DIP, "<r@tern.example>", NULL, 550, "5.1.1",
         "<r@tern.example>: Recipient address rejected: User unknown in local recipient table"},
        /* exempt: <>, no domain, a domain literal, a mydestination domain */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", true, "", POLICY_DNS_UNKNOWN, 0, DIP,
         "<r@far.example>", NULL, 554, "5.7.1", "<r@far.example>: Relay access denied"},
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain, permit", false, "u",
         POLICY_DNS_UNKNOWN, 0, DIP, NULL, NULL, 0, NULL, NULL},
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@[192.0.2.1]",
         POLICY_DNS_UNKNOWN, 0, DIP, NULL, NULL, 0, NULL, NULL},
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@Tern.Example",
         POLICY_DNS_UNKNOWN, 0, DIP, NULL, NULL, 0, NULL, NULL},
        /* found */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@snd.example",
         POLICY_DNS_FOUND, 0, DIP, NULL, NULL, 0, NULL, NULL},
        /* not found: unknown_address_reject_code, the DSN's class follows it */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@nx.example",
         POLICY_DNS_NOTFOUND, 0, DIP, NULL, NULL, 450, "4.1.8",
         "<u@nx.example>: Sender address rejected: Domain not found"},
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@nx.example",
         POLICY_DNS_NOTFOUND, 550, DIP, NULL, NULL, 550, "5.1.8",
         "<u@nx.example>: Sender address rejected: Domain not found"},
        /* null MX */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@NullMX.example",
         POLICY_DNS_NULLMX, 0, DIP, NULL, NULL, 550, "5.7.27",
         "<u@NullMX.example>: Sender address rejected: Domain nullmx.example does not accept "
         "mail (nullMX)"},
        /* temporary failure, defer: at once */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@sf.example",
         POLICY_DNS_TEMPFAIL, 0, DEF, NULL, NULL, 450, "4.1.8",
         "<u@sf.example>: Sender address rejected: Domain not found"},
        /* defer_if_permit at MAIL (delay_reject off): no objection yet (see test below) */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", false, "u@sf.example",
         POLICY_DNS_TEMPFAIL, 0, DIP, NULL, NULL, 0, NULL, NULL},
        /* defer_if_permit at RCPT: 450 when the rest permits ... */
        {POLICY_STAGE_SENDER, "reject_unknown_sender_domain", true, "u@sf.example",
         POLICY_DNS_TEMPFAIL, 0, DIP, "<r@tern.example>", NULL, 550, "5.1.1",
         "<r@tern.example>: Recipient address rejected: User unknown in local recipient table"},
        {RCPT_STAGE, "reject_unknown_sender_domain, permit", true, "u@sf.example",
         POLICY_DNS_TEMPFAIL, 0, DIP, "<r@far.example>", NULL, 450, "4.1.8",
         "<u@sf.example>: Sender address rejected: Domain not found"},
        /* ... while a reject later wins */
        {RCPT_STAGE, "reject_unknown_sender_domain, reject", true, "u@sf.example",
         POLICY_DNS_TEMPFAIL, 0, DIP, "<r@far.example>", NULL, 554, "5.7.1",
         "<r@far.example>: Recipient address rejected: Access denied"},
        {RCPT_STAGE, "reject_unknown_sender_domain", true, "u@sf.example", POLICY_DNS_TEMPFAIL, 0,
         DIP, "<r@far.example>", NULL, 554, "5.7.1", "<r@far.example>: Relay access denied"},
        /* in the data list: answers DATA */
        {POLICY_STAGE_DATA, "reject_unknown_sender_domain", true, "u@sf.example",
         POLICY_DNS_TEMPFAIL, 0, DIP, NULL, NULL, 450, "4.1.8",
         "<u@sf.example>: Sender address rejected: Domain not found"},
    };
    for (size_t i = 0; i < N(t); i++) {
        struct policy_relay_params p = {
            .mynetworks = mynetworks,
            .nmynet = N(mynetworks),
            .mydestination = mydest,
            .nmydest = N(mydest),
            .delay_reject = t[i].delay,
            .unknown_address_reject_code = t[i].reject_code,
            .unknown_address_tempfail_action = (enum policy_tempfail)t[i].action,
        };
        char *items[1] = {(char *)t[i].list};
        if (t[i].stage == RCPT_STAGE) {
            p.rcpt_restrictions = items;
            p.nrcpt = 1;
        } else {
            p.stage_restrictions[t[i].stage] = t[i].list;
        }
        struct policy_relay *pr = NULL;
        char *err = NULL;
        if (policy_relay_new_params(&pr, &p, &err) < 0)
            fail_msg("case %zu: %s", i, err);
        struct policy_client c = sessions[S_EXT];
        if (t[i].list[0] == 'p')
            c = sessions[S_LOCAL];
        c.sender = t[i].sender;
        c.sender_dns = t[i].dns;
        struct policy_addr a;
        if (t[i].rcpt)
            assert_int_equal(policy_addr_parse(t[i].rcpt, false, &a), 0);
        struct policy_verdict v;
        if (t[i].rcpt)
            policy_relay_check(pr, &c, &a, &v);
        else
            policy_relay_check_stage(pr, t[i].stage, &c, NULL, &v);
        if (v.code != t[i].code ||
            (t[i].code && (strcmp(v.dsn, t[i].dsn) || strcmp(v.text, t[i].text))) ||
            strcmp(v.lookup, t[i].lookup ? t[i].lookup : ""))
            fail_msg("case %zu (%s, %s): got %d %s %s lookup \"%s\"", i, t[i].list, t[i].sender,
                     v.code, v.dsn, v.text, v.lookup);
        policy_relay_free(pr);
    }
}

/* defer_if_permit raised at MAIL (smtpd_delay_reject = no) is answered at RCPT */
static void test_unknown_sender_deferred(void **state)
{
    (void)state;
    struct policy_relay_params p = {
        .mynetworks = mynetworks,
        .nmynet = N(mynetworks),
        .delay_reject = false,
    };
    p.stage_restrictions[POLICY_STAGE_SENDER] = "reject_unknown_sender_domain";
    struct policy_relay *pr = NULL;
    char *err = NULL;
    assert_int_equal(policy_relay_new_params(&pr, &p, &err), 0);
    struct policy_client c = sessions[S_LOCAL];
    c.sender = "u@sf.example";
    c.sender_dns = POLICY_DNS_TEMPFAIL;
    struct policy_verdict mail, v;
    policy_relay_check_stage(pr, POLICY_STAGE_SENDER, &c, NULL, &mail);
    assert_int_equal(mail.code, 0);
    assert_int_equal(mail.defer.code, 450);
    assert_string_equal(mail.defer.text,
                        "<u@sf.example>: Sender address rejected: Domain not found");
    struct policy_addr a;
    assert_int_equal(policy_addr_parse("<r@far.example>", false, &a), 0);
    c.deferred = &mail.defer;
    policy_relay_check(pr, &c, &a, &v); /* permit_mynetworks: the deferral answers */
    assert_int_equal(v.code, 450);
    assert_string_equal(v.dsn, "4.1.8");
    c.addr = "203.0.113.9"; /* relay denied: the reject wins */
    policy_relay_check(pr, &c, &a, &v);
    assert_int_equal(v.code, 554);
    policy_relay_free(pr);

    /* bad parameter values stop start-up */
    enum policy_tempfail tf;
    assert_int_equal(policy_relay_tempfail_parse("defer_if_permit", &tf), 0);
    assert_int_equal(tf, POLICY_TEMPFAIL_DEFER_IF_PERMIT);
    assert_int_equal(policy_relay_tempfail_parse("defer", &tf), 0);
    assert_int_equal(tf, POLICY_TEMPFAIL_DEFER);
    assert_true(policy_relay_tempfail_parse("defer_if_reject", &tf) < 0);
    p.unknown_address_reject_code = 250;
    assert_true(policy_relay_new_params(&pr, &p, &err) < 0);
    assert_non_null(strstr(err, "unknown_address_reject_code"));
    free(err);
}

static void test_hostnames(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool valid, fqdn;
    } names[] = {
        {"mx.example.com", true, true},
        {"mx.example.com.", true, true},
        {"localhost", true, false},
        {"a_b.example", true, true},
        {"-a.example", false, false},
        {"a-.example", false, false},
        {"a..example", false, false},
        {"a.example..", false, false},
        {"", false, false},
        {"192.0.2.1", false, false},
        {"1234", false, false},
        {"bad!name", false, false},
        {"b\xc3\xbc.example", false, false},
    };
    for (size_t i = 0; i < N(names); i++) {
        if (policy_hostname_valid(names[i].name, false) != names[i].valid ||
            policy_hostname_fqdn(names[i].name, false) != names[i].fqdn)
            fail_msg("%s", names[i].name);
    }
    assert_true(policy_hostname_fqdn("b\xc3\xbc.example", true));
    char label[80];
    memset(label, 'a', 64);
    snprintf(label + 64, sizeof(label) - 64, ".example");
    assert_false(policy_hostname_valid(label, false));
    assert_true(policy_hostname_addr_valid("[192.0.2.1]"));
    assert_true(policy_hostname_addr_valid("[IPv6:2001:db8::1]"));
    assert_true(policy_hostname_addr_valid("192.0.2.1"));
    assert_false(policy_hostname_addr_valid("[192.0.2.300]"));
    assert_false(policy_hostname_addr_valid("[]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_delay_reject),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unknown_sender_domain),
        cmocka_unit_test(test_unknown_sender_deferred),
        cmocka_unit_test(test_hostnames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
