// Peer: nginx (Debian's nginx-light) as a reverse proxy. Each start gets a fresh directory holding
// its configuration, pid file, error log and temporary paths, so nothing under /etc, /var or /run
// is read or written. One worker, in the foreground (`daemon off`): the benchmark's child is the
// master, the worker its child.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Where Debian installs it. */
export const nginxBinary = "/usr/sbin/nginx";

/**
 * nginx's version (`nginx/1.22.1`). Installs Debian's nginx-light with apt-get when it is missing
 * and this runs as root (as `ensureWrk` does for wrk); otherwise throws with how to install it.
 */
export function nginxVersion(): string {
  let run = spawnSync(nginxBinary, ["-v"], { encoding: "utf8" });
  if (run.error !== undefined) {
    if (process.getuid?.() !== 0) {
      throw new Error(
        "this benchmark needs nginx from Debian's packages: sudo apt-get install -y nginx-light",
      );
    }
    process.stderr.write("installing nginx from Debian's packages (apt-get install -y nginx-light)\n");
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", "nginx-light"], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    run = spawnSync(nginxBinary, ["-v"], { encoding: "utf8" });
  }
  return /nginx\/[\d.]+/.exec(run.stderr)?.[0] ?? "nginx";
}

/** The command line that starts nginx with a configuration written to `dir`. */
export function nginxLaunch(
  dir: string,
  options: { port: number; upstreamPort: number },
): { command: string; args: string[]; errorLog: string } {
  mkdirSync(dir, { recursive: true });
  const errorLog = join(dir, "error.log");
  const temp = (name: string) => join(dir, name);
  // No `user` directive: started by root, the worker runs as nobody. It never enters the temporary
  // paths (the answers fit its buffers), so it needs no access to this root-only directory.
  const config = `worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${errorLog} warn;
events {
  worker_connections 4096;
}
http {
  access_log off;
  client_body_temp_path ${temp("client-body")};
  proxy_temp_path ${temp("proxy")};
  fastcgi_temp_path ${temp("fastcgi")};
  uwsgi_temp_path ${temp("uwsgi")};
  scgi_temp_path ${temp("scgi")};
  # nginx closes a client connection after 1000 requests by default (Node servers never do):
  # wrk would reconnect every 1000 requests.
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream backend {
    server 127.0.0.1:${options.upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${options.port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const configFile = join(dir, "nginx.conf");
  writeFileSync(configFile, config);
  // -e: the error log from the start, before the configuration is read (else /var/log/nginx).
  return { command: nginxBinary, args: ["-p", dir, "-c", configFile, "-e", errorLog], errorLog };
}
