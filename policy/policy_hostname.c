/*
 * NAME
 *	policy_hostname - syntax of host and domain names; see policy_hostname.h
 * DESCRIPTION
 *	Bounded by the 255-octet limit of a domain name: longer input is
 *	invalid before anything is copied.
 */
#include "policy/policy_hostname.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define NAME_MAX_LEN 255
#define LABEL_MAX_LEN 63

/* name_len - length without one trailing dot ("a.b." -> 3; "a.b.." keeps both) */
static size_t name_len(const char *name)
{
    size_t len = strlen(name);
    if (len > 1 && name[len - 1] == '.' && name[len - 2] != '.')
        len--;
    return len;
}

/* label_char - octet allowed inside a label */
static bool label_char(unsigned char c, bool utf8)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || (utf8 && c >= 0x80);
}

/* policy_hostname_valid - RFC 1035 host name syntax, as Postfix's valid_hostname() */
bool policy_hostname_valid(const char *name, bool utf8)
{
    size_t len = name ? name_len(name) : 0;
    size_t label = 0;
    bool all_numeric = true;

    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!label_char(c, utf8) || (label == 0 && c == '-') || ++label > LABEL_MAX_LEN)
            return false;
        if (!(c >= '0' && c <= '9'))
            all_numeric = false;
    }
    return label > 0 && name[len - 1] != '-' && !all_numeric;
}

/* policy_hostname_fqdn - a valid name with at least one dot inside */
bool policy_hostname_fqdn(const char *name, bool utf8)
{
    return policy_hostname_valid(name, utf8) && memchr(name, '.', name_len(name)) != NULL;
}

/* policy_hostname_addr_valid - IPv4/IPv6 address, bare or as an address literal */
bool policy_hostname_addr_valid(const char *text)
{
    char buf[64];
    unsigned char bin[16];
    size_t len = text ? strlen(text) : 0;

    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
        if (len > 5 && strncasecmp(text, "IPv6:", 5) == 0) {
            text += 5;
            len -= 5;
            if (len >= sizeof(buf))
                return false;
            memcpy(buf, text, len);
            buf[len] = 0;
            return inet_pton(AF_INET6, buf, bin) == 1;
        }
    }
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = 0;
    return inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1;
}
