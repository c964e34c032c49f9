"""What the support team gets from the bot in Telegram: their commands, mood alerts with
corrections, and the daily digest (wired together in bot.operators.desk)."""
