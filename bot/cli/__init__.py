"""The `moodbot` console commands; bot.cli.main parses the command line and runs one."""
