/* ternmap - placeholder until the daemon glue lands */
int main(void)
{
    return 0;
}
