"""Event-driven entry points (scheduled jobs, queue consumers): thin calls into `mini_program_api`."""
