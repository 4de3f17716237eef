/* Subcommands of the `hearth` manufacturer CLI. Each lives in its own
 * tools/cmd_<name>.c and returns a process exit status: 0 success, 1 failure
 * (message already printed to stderr), 2 usage error. */
#ifndef HEARTH_TOOLS_COMMANDS_H
#define HEARTH_TOOLS_COMMANDS_H

typedef int (*hearth_cmd_fn)(int argc, char **argv);

/* Declared weak so each command file can be developed and linked on its own;
 * the dispatcher reports a command whose file is absent from the build. */
#define HEARTH_COMMANDS(X)                                                                 \
    X(ca, "ca init DIR                      create a manufacturer CA")                      \
    X(provision, "provision --ca DIR --out DIR ... factory-provision a device")             \
    X(keygen, "keygen --out FILE ...            create an update-signing key")              \
    X(keyset, "keyset create|sign|inspect ...   manage the signed update key set")          \
    X(bundle, "bundle create|sign|inspect|verify  build and check update bundles")          \
    X(slot, "slot install|status ...          inspect or prepare A/B software slots")          \
    X(ics, "ics --map F --junit F --commit SHA ... EN 303 645 conformance statement")          \
    X(assess, "assess --target HOST:PORT ...    black-box assessment of a running device")   \
    X(sbom, "sbom generate --out F ... PROG   the CycloneDX SBOM of a release")            \
    X(vuln, "vuln check --sbom F --feed F ... match an SBOM against vulnerability feeds")

#define X(name, help) int hearth_cmd_##name(int argc, char **argv) __attribute__((weak));
HEARTH_COMMANDS(X)
#undef X

#endif
