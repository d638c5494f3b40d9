#!/bin/sh
# The example "shop" app: reads its secrets from the environment, as
# `coffer run -- sh app.sh` provides them.
: "${db_username:?run me with: coffer run -- sh app.sh}"
echo "shop: connecting to the database as '$db_username' (pool of $max_connections)"
echo "shop: api key is ${#api_key} characters long; sample rate $sample_rate"
