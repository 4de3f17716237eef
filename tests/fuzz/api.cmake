# API request layer: routing, auth, validation over a provisioned temp device.
hearth_fuzz_target(NAME api SOURCE fuzz_api.c PROVISIONS 5.13-1 5.5-4 LIBS PkgConfig::CJSON hearth_thermostat)
