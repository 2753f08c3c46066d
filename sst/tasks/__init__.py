"""ESPnet tasks: how each training job declares its data and builds its model."""
