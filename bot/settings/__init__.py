"""Config sections, one module each, composed into `bot.config.BizraConfig`."""
