"""The config package against hostile and random input: clear ConfigErrors, never a crash or a hang."""
