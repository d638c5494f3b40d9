#!/bin/sh
# The app reads its secrets from the environment, as with plaintext files.
echo "connecting as $db_username to port $api_port (password: ${#db_password} characters)"
