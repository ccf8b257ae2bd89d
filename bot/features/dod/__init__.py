"""`/bizra dod`: the five Definition-of-Done gates with their evidence."""
