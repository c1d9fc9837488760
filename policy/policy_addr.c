/* policy_addr - see policy_addr.h (being written) */
typedef int policy_addr_placeholder;
