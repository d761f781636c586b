"""Schedules: triggers (time arithmetic), what a user asks for (spec), views, the scheduler that fires them, and turning a fire into instance rows."""
