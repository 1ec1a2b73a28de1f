"""Tables and schema: reading, checking and splitting the data, by reference."""
