/*
 * confdoc - tern.conf(5) from the parameter table; see config/confdoc.h.
 */
#include "core/config/confdoc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/config/config.h"

/* Parameters Postfix does not have: tern's own additions (DESIGN.md). */
static const char *const tern_own[] = {
    "smtpd_listen",   "submission_listen", "smtps_listen",   "metrics_listen",
    "worker_threads", "dns_servers",       "queue_map_size", "smtpd_total_connection_limit",
};

/* Old names (the 2005 talk's, or Postfix's own synonyms) and what Postfix uses today. */
static const struct {
    const char *name;
    const char *text;
} aliases[] = {
    {"smtpd_use_tls", "Postfix 2.2 name (the talk's); today smtpd_tls_security_level = may"},
    {"smtpd_enforce_tls",
     "Postfix 2.2 name (the talk's); today smtpd_tls_security_level = encrypt"},
    {"smtp_use_tls", "Postfix 2.2 name (the talk's); today smtp_tls_security_level = may"},
    {"smtp_enforce_tls",
     "Postfix 2.2 name (the talk's); today smtp_tls_security_level = encrypt or verify"},
    {"smtp_tls_enforce_peername",
     "Postfix 2.2 name (the talk's); today smtp_tls_security_level = verify"},
    {"smtp_tls_per_site", "Postfix 2.2 name (the talk's); today smtp_tls_policy_maps"},
    {"smtpd_per_request_deadline", "Postfix 3.7 name of smtpd_per_record_deadline"},
};

const char *confdoc_postfix(const char *name)
{
    for (size_t i = 0; i < sizeof(tern_own) / sizeof(tern_own[0]); i++)
        if (!strcmp(tern_own[i], name))
            return "none: tern's own";
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (!strcmp(aliases[i].name, name))
            return aliases[i].text;
    return "same name";
}

/* in_table - name is an entry of the parameter table */
static bool in_table(const char *name)
{
    struct config_param_doc pd;
    for (size_t i = 0; config_param_doc(i, &pd) == 0; i++)
        if (!strcmp(pd.name, name))
            return true;
    return false;
}

const char *confdoc_check(void)
{
    for (size_t i = 0; i < sizeof(tern_own) / sizeof(tern_own[0]); i++)
        if (!in_table(tern_own[i]))
            return tern_own[i];
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (!in_table(aliases[i].name))
            return aliases[i].name;
    return NULL;
}

/* roff - text with roff's specials escaped: backslash, and a leading . or ' */
static void roff(FILE *fp, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", fp);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", fp);
        else if (*s == '-')
            fputs("\\-", fp);
        else
            fputc(*s, fp);
    }
}

static const char head[] =
    ".SH NAME\n"
    "tern.conf \\- main.cf parameters of the tern SMTP relay\n"
    ".SH SYNOPSIS\n"
    ".B /etc/tern/main.cf\n"
    ".PP\n"
    ".B ternd \\-c /etc/tern \\-n\n"
    ".SH DESCRIPTION\n"
    "tern reads\n"
    ".I DIR/main.cf\n"
    "(the directory given with \\fBternd \\-c\\fR) in Postfix's syntax:\n"
    "\\fIname\\fR = \\fIvalue\\fR lines, whole-line # comments, continuation lines that\n"
    "start with white space, and $name, ${name}, $(name), ${name?text}, ${name:text}\n"
    "expansion evaluated after the whole file is read.\n"
    "Time values take Postfix's units (s, m, h, d, w), sizes take k, m, g,\n"
    "booleans are yes or no, lists are separated by commas or white space.\n"
    ".PP\n"
    "Parameter names are Postfix's wherever Postfix has one, including the names\n"
    "of the 2005 TLS talk beside today's.\n"
    "An unknown parameter gets a warning naming its line; a bad value stops\n"
    "start-up and \\fBternd check\\fR with a message naming it.\n"
    "Parameters marked \\fIrefused\\fR are Postfix parameters tern knows but does not\n"
    "implement: set to anything but their default, they stop start-up with the reason.\n"
    "SIGHUP reloads main.cf and every table.\n"
    "Parameters marked \\fIrestart\\fR are used once, at start-up (the queue, the\n"
    "listeners, the threads, the logs, the caches): a reload that changes one says so in\n"
    "the log, and the new value takes effect at the next restart.\n"
    ".PP\n"
    "This page is generated from tern's parameter table at build time and lists\n"
    "every parameter tern knows, in the table's order, with its type, its default\n"
    "(as \\fBpostconf \\-d\\fR would show it) and the Postfix parameter it mirrors.\n"
    ".SH PARAMETERS\n";

static const char tail[] = ".SH FILES\n"
                           ".TP\n"
                           ".I /etc/tern/main.cf\n"
                           "the configuration of the packaged service\n"
                           ".SH SEE ALSO\n"
                           ".BR tern (8),\n"
                           ".BR ternctl (1),\n"
                           ".BR ternmap (1),\n"
                           ".BR postconf (5)\n";

int confdoc_write(FILE *fp, const char *version)
{
    fprintf(fp,
            ".\\\" Generated by ternconfdoc from core/config/config.c: do not edit.\n"
            ".TH TERN.CONF 5 \"\" \"tern %s\" \"tern manual\"\n",
            version);
    fputs(head, fp);
    struct config_param_doc pd;
    for (size_t i = 0; config_param_doc(i, &pd) == 0; i++) {
        fprintf(fp, ".TP\n.B %s\n", pd.name);
        fprintf(fp, "(%s; default: ", pd.type);
        if (!pd.dflt)
            fputs("computed", fp);
        else if (!*pd.dflt)
            fputs("empty", fp);
        else {
            fputs("\\fB", fp);
            roff(fp, pd.dflt);
            fputs("\\fR", fp);
        }
        fputs(pd.refused ? "; refused" : "", fp);
        fputs(pd.at_start ? "; restart" : "", fp);
        fputs(")\n.br\n", fp);
        roff(fp, pd.help);
        fputs(".\n.br\nPostfix: ", fp);
        roff(fp, confdoc_postfix(pd.name));
        fputs(".\n", fp);
    }
    fputs(tail, fp);
    return ferror(fp) ? -EIO : 0;
}
