"""The handlers of the planned steps, in families: where the compose file comes from (source),
registries (registry), the compose CLI and the engine (compose), a recovery's (recovery), and the
records (records). Each family exports HANDLERS: its step kinds -> handler(ctx, session, step)."""
