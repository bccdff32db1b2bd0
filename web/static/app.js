// moonwake web app
"use strict";
