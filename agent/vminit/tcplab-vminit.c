// tcplab-vminit: PID 1 of a tcplab vm guest (src/lab/vm/), and the guest end of
// the runner's command multiplexer.
//
// Stage 1, in the initramfs the runner packs (src/lab/vm/initramfs.ts): mount
// /proc, /sys and /dev, load the few modules the root needs (listed in
// /modules.order, in dependency order), mount the host's root filesystem that
// virtiofsd shares (tag "root") read-only, put a tmpfs overlay on it, bind the
// guest kernel's own modules (tcplab.modules= on the command line, a path on the
// shared root) over /lib/modules/<release>, and switch into it.
//
// Stage 2: open the virtio-serial port named "tcplab" and serve frames:
//   u32 len (bytes after this field), u8 type, u32 id, payload[len - 5]; little endian.
// Runner -> guest: SPAWN (u8 flags, [netns name if flags & 2], argv; NUL-terminated strings),
// STDIN, STDIN_END, SIGNAL (u32 signo, to the process group), TIME, SETTIME (i64 ns to step
// CLOCK_REALTIME by), POWEROFF, NETNS_DEL (names), WRITE (netns name or "", then path and data
// pairs), CONFIGURE (netns name, then ip-batch lines of the lab plan's forms, done over
// rtnetlink). Guest -> runner: READY (uname release), STARTED (u32 pid), STDOUT, STDERR,
// EXIT (i32 code or -1, i32 signal), SPAWN_ERR (i32 errno, text), TIME (i64
// CLOCK_REALTIME ns, i64 CLOCK_MONOTONIC ns), LOG (text), DONE (i32 errno per item).
// Under TCG every exec costs tens of ms (more on a loaded host), so what needs no program is
// done here: entering a lab's namespace before exec (instead of `ip netns exec`, which is a
// second exec), deleting namespaces with what runs in them, and writing files (sysctls,
// tracefs) from inside a namespace.
// Every spawned process leads its own process group (setsid), like the runner's
// local processes (src/util/proc.ts), so a signal reaches what it started too.
//
// `tcplab-vminit --stdio`: the same multiplexer on the machine itself, frames on
// stdin and stdout: the runner's spawner (src/util/spawner.ts). Node forks
// itself to start a process (libuv), which blocks its event loop for as long as
// copying its page tables takes (12-67 ms per spawn on a loaded VM, growing with
// its memory); this small static process forks in well under a millisecond and
// the runner only writes a frame. No stage 1, the environment is inherited. When
// stdin closes (the runner exited, or was killed), every process group it
// started gets SIGKILL and it exits: nothing it started outlives the runner.

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
  F_SPAWN = 1, F_STDIN = 2, F_STDIN_END = 3, F_SIGNAL = 4, F_TIME = 5, F_SETTIME = 6, F_POWEROFF = 7, F_NETNS_DEL = 8, F_WRITE = 9, F_CONFIGURE = 10,
  F_READY = 64, F_STARTED = 65, F_STDOUT = 66, F_STDERR = 67, F_EXIT = 68, F_SPAWN_ERR = 69, F_TIME_REPLY = 70, F_LOG = 71, F_DONE = 72,
};

/** Where `ip netns add` binds named namespaces (ip-netns(8)). */
#define NETNS_RUN_DIR "/run/netns"
#define MAX_ITEMS 256

#define MAX_CHILDREN 1024
#define MAX_FRAME (4u << 20)
/** After a process exits, how long its pipes may stay open (a grandchild holding them) before EXIT is sent anyway. */
#define EOF_GRACE_MS 1000
/** The runner's end of the port closed (the runner died: SIGKILL, a crash) for this long: power off. */
#define ORPHAN_POWEROFF_MS 3000

struct child {
  int used;
  uint32_t id;
  pid_t pid;
  int out, err, in;
  int reaped;
  int code, sig;
  int64_t reaped_ms;
};

static struct child children[MAX_CHILDREN];
static int port = -1;     /* frames in */
static int port_out = -1; /* frames out: the same fd as port in a guest, stdout with --stdio */
static int stdio_mode;

static void console(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
  int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
    close(fd);
  }
}

static void die(const char *what) {
  console("tcplab-vminit: %s: %s\n", what, strerror(errno));
  sync();
  reboot(RB_POWER_OFF);
  for (;;) pause();
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t clock_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        poll(&pf, 1, 100);
        continue;
      }
      return;
    }
    c += w;
    n -= (size_t)w;
  }
}

static void send_frame(uint8_t type, uint32_t id, const void *payload, size_t n) {
  unsigned char hdr[9];
  uint32_t len = (uint32_t)(n + 5);
  memcpy(hdr, &len, 4);
  hdr[4] = type;
  memcpy(hdr + 5, &id, 4);
  write_all(port_out, hdr, 9);
  if (n > 0) write_all(port_out, payload, n);
}

// ---- stage 1 -------------------------------------------------------------

static char cmdline[4096];

static const char *cmdline_arg(const char *key) {
  static char val[1024];
  size_t kl = strlen(key);
  for (char *p = cmdline; *p;) {
    while (*p == ' ' || *p == '\n') p++;
    char *e = p;
    while (*e && *e != ' ' && *e != '\n') e++;
    if ((size_t)(e - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
      size_t vl = (size_t)(e - p) - kl - 1;
      if (vl >= sizeof val) vl = sizeof val - 1;
      memcpy(val, p + kl + 1, vl);
      val[vl] = 0;
      return val;
    }
    p = e;
  }
  return NULL;
}

static void read_cmdline(void) {
  int fd = open("/proc/cmdline", O_RDONLY);
  if (fd < 0) return;
  ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  cmdline[n > 0 ? n : 0] = 0;
}

static void load_modules(const char *dir, const char *list) {
  FILE *f = fopen(list, "r");
  if (!f) return;
  char line[512], path[1024];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    if (!line[0]) continue;
    snprintf(path, sizeof path, "%s/%s", dir, line);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      console("tcplab-vminit: module %s: %s\n", path, strerror(errno));
      continue;
    }
    // Compressed modules (.ko.xz, .ko.zst) are decompressed by the kernel: MODULE_INIT_COMPRESSED_FILE (4).
    size_t ll = strlen(line);
    int compressed = ll > 3 && strcmp(line + ll - 3, ".ko") != 0;
    if (syscall(SYS_finit_module, fd, "", compressed ? 4 : 0) != 0 && errno != EEXIST) console("tcplab-vminit: load %s: %s\n", line, strerror(errno));
    close(fd);
  }
  fclose(f);
}

static void mkdirs(const char *path) {
  char tmp[1024];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p == '/') {
      *p = 0;
      mkdir(tmp, 0755);
      *p = '/';
    }
  }
  mkdir(tmp, 0755);
}

static void mount_or_die(const char *src, const char *dst, const char *type, unsigned long flags, const char *data) {
  mkdirs(dst);
  if (mount(src, dst, type, flags, data) != 0) {
    char what[256];
    snprintf(what, sizeof what, "mount %s on %s (%s)", src, dst, type);
    die(what);
  }
}

static void stage1(void) {
  mount_or_die("proc", "/proc", "proc", 0, NULL);
  mount_or_die("sysfs", "/sys", "sysfs", 0, NULL);
  mount_or_die("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  read_cmdline();
  load_modules("/m", "/modules.order");
  mount_or_die("root", "/lower", "virtiofs", MS_RDONLY, NULL);
  mount_or_die("tmpfs", "/rw", "tmpfs", 0, "mode=0755");
  mkdirs("/rw/upper");
  mkdirs("/rw/work");
  mkdirs("/newroot");
  int overlaid = mount("overlay", "/newroot", "overlay", 0, "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work") == 0;
  if (!overlaid) {
    // No overlay: the shared root read-only, with tmpfs where tools write.
    console("tcplab-vminit: overlay: %s; read-only root with tmpfs on /tmp and /var\n", strerror(errno));
    mount_or_die("/lower", "/newroot", NULL, MS_BIND | MS_REC, NULL);
    mount_or_die("tmpfs", "/newroot/var/tmp", "tmpfs", 0, NULL);
  }
  mount_or_die("proc", "/newroot/proc", "proc", 0, NULL);
  mount_or_die("sysfs", "/newroot/sys", "sysfs", 0, NULL);
  mount_or_die("devtmpfs", "/newroot/dev", "devtmpfs", 0, NULL);
  mount_or_die("devpts", "/newroot/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666");
  mount_or_die("tmpfs", "/newroot/dev/shm", "tmpfs", 0, NULL);
  mount_or_die("tmpfs", "/newroot/run", "tmpfs", 0, "mode=0755");
  // With the overlay, /tmp stays the host's, read through (writes land in the tmpfs upper): a
  // checkout under /tmp (a CI clone) keeps its agent binary visible at the same path.
  if (!overlaid)
    mount_or_die("tmpfs", "/newroot/tmp", "tmpfs", 0, "mode=1777");
  if (mount("tracefs", "/newroot/sys/kernel/tracing", "tracefs", 0, NULL) != 0) console("tcplab-vminit: no tracefs: %s\n", strerror(errno));
  const char *mods = cmdline_arg("tcplab.modules");
  struct utsname u;
  uname(&u);
  if (mods) {
    char src[1100], dst[1100];
    snprintf(src, sizeof src, "/newroot%s", mods);
    snprintf(dst, sizeof dst, "/newroot/lib/modules/%s", u.release);
    mkdirs(dst);
    if (mount(src, dst, NULL, MS_BIND, NULL) != 0) console("tcplab-vminit: modules %s: %s\n", mods, strerror(errno));
  }
  if (chdir("/newroot") != 0) die("chdir /newroot");
  if (mount(".", "/", NULL, MS_MOVE, NULL) != 0) die("move root");
  if (chroot(".") != 0) die("chroot");
  if (chdir("/") != 0) die("chdir /");
}

// ---- stage 2 -------------------------------------------------------------

static int open_port(const char *name) {
  for (int tries = 0; tries < 500; tries++) {
    DIR *d = opendir("/sys/class/virtio-ports");
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[512], buf[128] = {0};
        snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
        if (strcmp(buf, name) == 0) {
          snprintf(p, sizeof p, "/dev/%s", e->d_name);
          int pfd = open(p, O_RDWR | O_CLOEXEC);
          if (pfd >= 0) {
            closedir(d);
            return pfd;
          }
        }
      }
      closedir(d);
    }
    usleep(10000);
  }
  return -1;
}

static struct child *find_child(uint32_t id) {
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i].used && children[i].id == id) return &children[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void maybe_finish(struct child *c, int force) {
  if (!c->reaped) return;
  if (!force && (c->out >= 0 || c->err >= 0)) return;
  close_fd(&c->out);
  close_fd(&c->err);
  close_fd(&c->in);
  int32_t st[2] = {c->code, c->sig};
  send_frame(F_EXIT, c->id, st, sizeof st);
  c->used = 0;
}


// ---- namespaces and files, without a program --------------------------------

/** Enter network namespace `name` (NETNS_RUN_DIR/name) the way `ip netns exec` does: setns, a
 *  private mount namespace, and /sys mounted again so that it shows this namespace's devices. 0 or errno. */
static int enter_netns(const char *name) {
  char path[512];
  if (strchr(name, '/') || !name[0]) return EINVAL;
  snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  if (setns(fd, CLONE_NEWNET) != 0) {
    int e = errno;
    close(fd);
    return e;
  }
  close(fd);
  if (unshare(CLONE_NEWNS) != 0) return errno;
  if (mount("", "/", NULL, MS_SLAVE | MS_REC, NULL) != 0) return errno;
  if (umount2("/sys", MNT_DETACH) == 0) mount(name, "/sys", "sysfs", 0, NULL);
  return 0;
}

/** SIGKILL every process in namespace `name`, then unbind and remove it (`ip netns del`). 0 or errno. */
static int delete_netns(const char *name) {
  char path[512];
  if (strchr(name, '/') || !name[0]) return EINVAL;
  snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", name);
  struct stat ns;
  if (stat(path, &ns) != 0) return errno == ENOENT ? 0 : errno;
  DIR *d = opendir("/proc");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      char *end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end || pid <= 1) continue;
      char p[64];
      struct stat st;
      snprintf(p, sizeof p, "/proc/%ld/ns/net", pid);
      if (stat(p, &st) == 0 && st.st_dev == ns.st_dev && st.st_ino == ns.st_ino) kill((pid_t)pid, SIGKILL);
    }
    closedir(d);
  }
  umount2(path, MNT_DETACH);
  if (unlink(path) != 0 && errno != ENOENT) return errno;
  return 0;
}

/** Write `data` to `path` (opened O_WRONLY, no create, as sysctl(8) does). 0 or errno. */
static int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t len = strlen(data);
  ssize_t w = write(fd, data, len);
  int e = w < 0 ? errno : (size_t)w != len ? EIO : 0;
  if (close(fd) != 0 && e == 0) e = errno;
  return e;
}

/** NETNS_DEL: one errno per name. */
static void do_netns_del(uint32_t id, const unsigned char *p, size_t n) {
  int32_t res[MAX_ITEMS];
  int k = 0;
  for (size_t i = 0; i < n && k < MAX_ITEMS;) {
    const char *name = (const char *)p + i;
    size_t l = strnlen(name, n - i);
    if (i + l >= n) break;
    res[k++] = delete_netns(name);
    i += l + 1;
  }
  send_frame(F_DONE, id, res, (size_t)k * sizeof res[0]);
}

/** WRITE: netns name ("" for the guest's own), then path/data pairs; one errno per pair. In a
 *  namespace, a child enters it and writes (what /proc/sys/net shows depends on the opener's). */
static void do_write(uint32_t id, const unsigned char *p, size_t n) {
  const char *items[2 * MAX_ITEMS + 1];
  int k = 0;
  for (size_t i = 0; i < n && k < 2 * MAX_ITEMS + 1;) {
    const char *s = (const char *)p + i;
    size_t l = strnlen(s, n - i);
    if (i + l >= n) break;
    items[k++] = s;
    i += l + 1;
  }
  if (k < 1) {
    send_frame(F_DONE, id, NULL, 0);
    return;
  }
  int pairs = (k - 1) / 2;
  int32_t res[MAX_ITEMS];
  if (!items[0][0]) {
    for (int j = 0; j < pairs; j++) res[j] = write_file(items[1 + 2 * j], items[2 + 2 * j]);
    send_frame(F_DONE, id, res, (size_t)pairs * sizeof res[0]);
    return;
  }
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) != 0) {
    for (int j = 0; j < pairs; j++) res[j] = errno;
    send_frame(F_DONE, id, res, (size_t)pairs * sizeof res[0]);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(rp[0]);
    char path[512];
    snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", items[0]);
    int fd = strchr(items[0], '/') ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? (strchr(items[0], '/') ? EINVAL : errno) : setns(fd, CLONE_NEWNET) != 0 ? errno : 0;
    for (int j = 0; j < pairs; j++) res[j] = e ? e : write_file(items[1 + 2 * j], items[2 + 2 * j]);
    ssize_t w = write(rp[1], res, (size_t)pairs * sizeof res[0]);
    (void)w;
    _exit(0);
  }
  close(rp[1]);
  ssize_t got = pid < 0 ? -1 : read(rp[0], res, (size_t)pairs * sizeof res[0]);
  int e = errno;
  close(rp[0]);
  if (pid > 0) waitpid(pid, NULL, 0);
  if (got != (ssize_t)((size_t)pairs * sizeof res[0]))
    for (int j = 0; j < pairs; j++) res[j] = got < 0 ? e : EIO;
  send_frame(F_DONE, id, res, (size_t)pairs * sizeof res[0]);
}

// ---- rtnetlink: a namespace's addresses, routes and links, without ip ----------

struct nlreq {
  struct nlmsghdr h;
  union {
    struct ifinfomsg ifi;
    struct ifaddrmsg ifa;
    struct rtmsg rt;
  } u;
  char attrs[512];
};

static struct rtattr *nl_attr(struct nlreq *r, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
  a->rta_type = (unsigned short)type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

/** Send one request and read its ACK: 0 or errno. */
static int nl_talk(int fd, struct nlreq *r) {
  static uint32_t seq;
  r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
  r->h.nlmsg_seq = ++seq;
  if (send(fd, r, r->h.nlmsg_len, 0) < 0) return errno;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

/** "198.18.7.1/24" -> address and prefix length; 0 or EINVAL. */
static int parse_cidr(const char *s, struct in_addr *a, int *len) {
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%s", s);
  char *slash = strchr(tmp, '/');
  *len = 32;
  if (slash) {
    *slash = 0;
    *len = atoi(slash + 1);
    if (*len < 0 || *len > 32) return EINVAL;
  }
  return inet_pton(AF_INET, tmp, a) == 1 ? 0 : EINVAL;
}

static int nl_link_up(int fd, const char *dev, const char *master) {
  struct nlreq r = {0};
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.ifi);
  r.h.nlmsg_type = RTM_NEWLINK;
  r.u.ifi.ifi_family = AF_UNSPEC;
  r.u.ifi.ifi_index = (int)if_nametoindex(dev);
  if (!r.u.ifi.ifi_index) return ENODEV;
  r.u.ifi.ifi_flags = IFF_UP;
  r.u.ifi.ifi_change = IFF_UP;
  if (master) {
    uint32_t m = if_nametoindex(master);
    if (!m) return ENODEV;
    nl_attr(&r, IFLA_MASTER, &m, sizeof m);
  }
  return nl_talk(fd, &r);
}

static int nl_bridge_add(int fd, const char *name) {
  struct nlreq r = {0};
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.ifi);
  r.h.nlmsg_type = RTM_NEWLINK;
  r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  r.u.ifi.ifi_family = AF_UNSPEC;
  nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  struct rtattr *info = nl_attr(&r, IFLA_LINKINFO, NULL, 0);
  nl_attr(&r, IFLA_INFO_KIND, "bridge", 6);
  info->rta_len = (unsigned short)((char *)&r + r.h.nlmsg_len - (char *)info);
  return nl_talk(fd, &r);
}

static int nl_addr_add(int fd, const char *cidr, const char *dev) {
  struct nlreq r = {0};
  struct in_addr a;
  int len;
  if (parse_cidr(cidr, &a, &len)) return EINVAL;
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.ifa);
  r.h.nlmsg_type = RTM_NEWADDR;
  r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  r.u.ifa.ifa_family = AF_INET;
  r.u.ifa.ifa_prefixlen = (unsigned char)len;
  r.u.ifa.ifa_scope = (ntohl(a.s_addr) >> 24) == 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  r.u.ifa.ifa_index = if_nametoindex(dev);
  if (!r.u.ifa.ifa_index) return ENODEV;
  nl_attr(&r, IFA_LOCAL, &a, sizeof a);
  nl_attr(&r, IFA_ADDRESS, &a, sizeof a);
  return nl_talk(fd, &r);
}

static int nl_route_add(int fd, const char *cidr, const char *via) {
  struct nlreq r = {0};
  struct in_addr dst, gw;
  int len, gl;
  if (parse_cidr(cidr, &dst, &len) || parse_cidr(via, &gw, &gl)) return EINVAL;
  r.h.nlmsg_len = NLMSG_LENGTH(sizeof r.u.rt);
  r.h.nlmsg_type = RTM_NEWROUTE;
  r.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
  r.u.rt.rtm_family = AF_INET;
  r.u.rt.rtm_dst_len = (unsigned char)len;
  r.u.rt.rtm_table = RT_TABLE_MAIN;
  r.u.rt.rtm_protocol = RTPROT_BOOT;
  r.u.rt.rtm_scope = RT_SCOPE_UNIVERSE;
  r.u.rt.rtm_type = RTN_UNICAST;
  nl_attr(&r, RTA_DST, &dst, sizeof dst);
  nl_attr(&r, RTA_GATEWAY, &gw, sizeof gw);
  return nl_talk(fd, &r);
}

/** One ip-batch line of the forms the lab plan uses (src/lab/netns/backend.ts planLab); ENOTSUP for any other. */
static int nl_line(int fd, const char *line) {
  char w[8][64];
  int n = sscanf(line, "%63s %63s %63s %63s %63s %63s %63s %63s", w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
  if (n == 4 && !strcmp(w[0], "link") && !strcmp(w[1], "set") && !strcmp(w[3], "up")) return nl_link_up(fd, w[2], NULL);
  if (n == 6 && !strcmp(w[0], "link") && !strcmp(w[1], "set") && !strcmp(w[3], "master") && !strcmp(w[5], "up")) return nl_link_up(fd, w[2], w[4]);
  if (n == 5 && !strcmp(w[0], "link") && !strcmp(w[1], "add") && !strcmp(w[3], "type") && !strcmp(w[4], "bridge")) return nl_bridge_add(fd, w[2]);
  if (n == 5 && !strcmp(w[0], "addr") && !strcmp(w[1], "add") && !strcmp(w[3], "dev")) return nl_addr_add(fd, w[2], w[4]);
  if (n == 5 && !strcmp(w[0], "route") && !strcmp(w[1], "add") && !strcmp(w[3], "via")) return nl_route_add(fd, w[2], w[4]);
  return ENOTSUP;
}

/** CONFIGURE: netns name, then ip-batch lines; a child enters the namespace and runs them in order over rtnetlink, stopping at the first failure. One errno per line (lines after a failure: ECANCELED). */
static void do_configure(uint32_t id, const unsigned char *p, size_t n) {
  const char *items[MAX_ITEMS + 1];
  int k = 0;
  for (size_t i = 0; i < n && k < MAX_ITEMS + 1;) {
    const char *s = (const char *)p + i;
    size_t l = strnlen(s, n - i);
    if (i + l >= n) break;
    items[k++] = s;
    i += l + 1;
  }
  int lines = k > 0 ? k - 1 : 0;
  int32_t res[MAX_ITEMS];
  int rp[2];
  if (k < 1 || pipe2(rp, O_CLOEXEC) != 0) {
    for (int j = 0; j < lines; j++) res[j] = EINVAL;
    send_frame(F_DONE, id, res, (size_t)lines * sizeof res[0]);
    return;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(rp[0]);
    char path[512];
    int e = 0;
    if (strchr(items[0], '/')) e = EINVAL;
    else {
      snprintf(path, sizeof path, NETNS_RUN_DIR "/%s", items[0]);
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) e = errno;
    }
    int nl = e ? -1 : socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (!e && nl < 0) e = errno;
    for (int j = 0; j < lines; j++) {
      if (e) {
        res[j] = j == 0 ? e : ECANCELED;
        continue;
      }
      res[j] = nl_line(nl, items[1 + j]);
      if (res[j]) {
        for (int m = j + 1; m < lines; m++) res[m] = ECANCELED;
        break;
      }
    }
    ssize_t w = write(rp[1], res, (size_t)lines * sizeof res[0]);
    (void)w;
    _exit(0);
  }
  close(rp[1]);
  ssize_t got = pid < 0 ? -1 : read(rp[0], res, (size_t)lines * sizeof res[0]);
  int e = errno;
  close(rp[0]);
  if (pid > 0) waitpid(pid, NULL, 0);
  if (got != (ssize_t)((size_t)lines * sizeof res[0]))
    for (int j = 0; j < lines; j++) res[j] = got < 0 ? e : EIO;
  send_frame(F_DONE, id, res, (size_t)lines * sizeof res[0]);
}

static sigset_t blocked;

static void do_spawn(uint32_t id, const unsigned char *p, size_t n) {
  if (n < 2) return;
  uint8_t flags = p[0];
  char *argv[256];
  int argc = 0;
  size_t i = 1;
  const char *netns = NULL;
  if (flags & 2) {
    netns = (const char *)p + i;
    i += strnlen(netns, n - i) + 1;
    if (i > n) return;
  }
  while (i < n && argc < 255) {
    argv[argc++] = (char *)p + i;
    i += strnlen((const char *)p + i, n - i) + 1;
  }
  argv[argc] = NULL;
  struct child *slot = NULL;
  for (int k = 0; k < MAX_CHILDREN; k++)
    if (!children[k].used) {
      slot = &children[k];
      break;
    }
  int32_t err;
  if (!slot || argc == 0) {
    err = slot ? EINVAL : EMFILE;
    send_frame(F_SPAWN_ERR, id, &err, sizeof err);
    return;
  }
  int out[2], errp[2], in[2] = {-1, -1}, ex[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) || ((flags & 1) && pipe2(in, O_CLOEXEC)) || pipe2(ex, O_CLOEXEC)) {
    err = errno;
    send_frame(F_SPAWN_ERR, id, &err, sizeof err);
    return;
  }
  if (flags & 1) fcntl(in[1], F_SETPIPE_SZ, 1 << 20);
  fcntl(out[1], F_SETPIPE_SZ, 1 << 20);
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    sigprocmask(SIG_UNBLOCK, &blocked, NULL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    dup2((flags & 1) ? in[0] : devnull, 0);
    dup2(out[1], 1);
    dup2(errp[1], 2);
    int e = netns ? enter_netns(netns) : 0;
    if (e == 0) {
      execvp(argv[0], argv);
      e = errno;
    }
    ssize_t w = write(ex[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(out[1]);
  close(errp[1]);
  close(ex[1]);
  if (flags & 1) close(in[0]);
  if (pid < 0) {
    err = errno;
    close(out[0]);
    close(errp[0]);
    close(ex[0]);
    if (flags & 1) close(in[1]);
    send_frame(F_SPAWN_ERR, id, &err, sizeof err);
    return;
  }
  int e = 0;
  ssize_t r = read(ex[0], &e, sizeof e);
  close(ex[0]);
  if (r == (ssize_t)sizeof e) {
    close(out[0]);
    close(errp[0]);
    if (flags & 1) close(in[1]);
    waitpid(pid, NULL, 0);
    err = e;
    send_frame(F_SPAWN_ERR, id, &err, sizeof err);
    return;
  }
  memset(slot, 0, sizeof *slot);
  slot->used = 1;
  slot->id = id;
  slot->pid = pid;
  slot->out = out[0];
  slot->err = errp[0];
  slot->in = (flags & 1) ? in[1] : -1;
  uint32_t upid = (uint32_t)pid;
  send_frame(F_STARTED, id, &upid, sizeof upid);
}

static void handle_frame(uint8_t type, uint32_t id, const unsigned char *p, size_t n) {
  struct child *c;
  switch (type) {
    case F_SPAWN:
      do_spawn(id, p, n);
      break;
    case F_STDIN:
      if ((c = find_child(id)) && c->in >= 0) write_all(c->in, p, n);
      break;
    case F_STDIN_END:
      if ((c = find_child(id))) close_fd(&c->in);
      break;
    case F_SIGNAL:
      if ((c = find_child(id)) && n >= 4 && !c->reaped) {
        uint32_t sig;
        memcpy(&sig, p, 4);
        if (kill(-c->pid, (int)sig) != 0) kill(c->pid, (int)sig);
      }
      break;
    case F_TIME: {
      int64_t t[2] = {clock_ns(CLOCK_REALTIME), clock_ns(CLOCK_MONOTONIC)};
      send_frame(F_TIME_REPLY, id, t, sizeof t);
      break;
    }
    case F_SETTIME:
      // Step CLOCK_REALTIME by a signed number of ns (ADJ_SETOFFSET: atomic, so the time this frame
      // spent in transit or waiting for a vCPU does not enter).
      if (n >= 8) {
        int64_t ns;
        memcpy(&ns, p, 8);
        struct timex tx = {.modes = ADJ_SETOFFSET | ADJ_NANO};
        tx.time.tv_sec = ns / 1000000000LL;
        tx.time.tv_usec = ns % 1000000000LL;
        if (tx.time.tv_usec < 0) {
          tx.time.tv_sec -= 1;
          tx.time.tv_usec += 1000000000LL;
        }
        if (clock_adjtime(CLOCK_REALTIME, &tx) < 0) console("tcplab-vminit: adjust clock: %s\n", strerror(errno));
        int64_t t[2] = {clock_ns(CLOCK_REALTIME), clock_ns(CLOCK_MONOTONIC)};
        send_frame(F_TIME_REPLY, id, t, sizeof t);
      }
      break;
    case F_NETNS_DEL:
      do_netns_del(id, p, n);
      break;
    case F_WRITE:
      do_write(id, p, n);
      break;
    case F_CONFIGURE:
      do_configure(id, p, n);
      break;
    case F_POWEROFF:
      if (stdio_mode) break; /* never on the machine itself */
      kill(-1, SIGKILL);
      sync();
      reboot(RB_POWER_OFF);
      break;
    default:
      break;
  }
}

static void reap(void) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (int i = 0; i < MAX_CHILDREN; i++) {
      struct child *c = &children[i];
      if (!c->used || c->pid != pid) continue;
      c->reaped = 1;
      c->reaped_ms = now_ms();
      c->code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      c->sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      maybe_finish(c, 0);
    }
  }
}

static void pump(struct child *c, int *fd, uint8_t type) {
  static unsigned char buf[65536];
  ssize_t r = read(*fd, buf, sizeof buf);
  if (r > 0) {
    send_frame(type, c->id, buf, (size_t)r);
    return;
  }
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  close_fd(fd);
  maybe_finish(c, 0);
}

/* --stdio: the runner closed our stdin (it exited, or was killed): what it started goes with it. */
static void runner_gone(void) {
  for (int i = 0; i < MAX_CHILDREN; i++) {
    struct child *c = &children[i];
    if (c->used && !c->reaped && kill(-c->pid, SIGKILL) != 0) kill(c->pid, SIGKILL);
  }
  _exit(0);
}

static void serve(void) {
  static unsigned char rbuf[MAX_FRAME + 16];
  size_t have = 0;
  int sfd = signalfd(-1, &blocked, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");
  struct utsname u;
  uname(&u);
  send_frame(F_READY, 0, u.release, strlen(u.release));
  int64_t hup_since = 0;
  static struct pollfd pfds[2 + 2 * MAX_CHILDREN];
  static struct {
    struct child *c;
    int which;
  } map[2 + 2 * MAX_CHILDREN];
  for (;;) {
    int n = 0;
    pfds[n++] = (struct pollfd){.fd = port, .events = POLLIN};
    pfds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    int timeout = -1;
    int64_t now = now_ms();
    for (int i = 0; i < MAX_CHILDREN; i++) {
      struct child *c = &children[i];
      if (!c->used) continue;
      if (c->reaped) {
        int64_t left = c->reaped_ms + EOF_GRACE_MS - now;
        if (left <= 0) {
          maybe_finish(c, 1);
          continue;
        }
        if (timeout < 0 || left < timeout) timeout = (int)left;
      }
      if (c->out >= 0) {
        map[n].c = c;
        map[n].which = 1;
        pfds[n++] = (struct pollfd){.fd = c->out, .events = POLLIN};
      }
      if (c->err >= 0) {
        map[n].c = c;
        map[n].which = 2;
        pfds[n++] = (struct pollfd){.fd = c->err, .events = POLLIN};
      }
    }
    int r = poll(pfds, (nfds_t)n, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = 2; i < n; i++) {
      if (!pfds[i].revents) continue;
      struct child *c = map[i].c;
      if (!c->used) continue;
      if (map[i].which == 1 && c->out == pfds[i].fd) pump(c, &c->out, F_STDOUT);
      else if (map[i].which == 2 && c->err == pfds[i].fd) pump(c, &c->err, F_STDERR);
    }
    if (pfds[1].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
      reap();
    }
    if ((pfds[0].revents & POLLIN) || (stdio_mode && (pfds[0].revents & (POLLHUP | POLLERR)))) {
      ssize_t got = read(port, rbuf + have, sizeof rbuf - have);
      if (got == 0 && stdio_mode) runner_gone();
      if (got > 0) {
        have += (size_t)got;
        size_t off = 0;
        while (have - off >= 9) {
          uint32_t len;
          memcpy(&len, rbuf + off, 4);
          if (len < 5 || len > MAX_FRAME) {
            console("tcplab-vminit: bad frame length %u\n", len);
            off = have;
            break;
          }
          if (have - off < 4 + (size_t)len) break;
          uint8_t type = rbuf[off + 4];
          uint32_t id;
          memcpy(&id, rbuf + off + 5, 4);
          handle_frame(type, id, rbuf + off + 9, len - 5);
          off += 4 + len;
        }
        memmove(rbuf, rbuf + off, have - off);
        have -= off;
      }
      hup_since = 0;
    }
    if (!stdio_mode && !(pfds[0].revents & POLLIN) && (pfds[0].revents & (POLLHUP | POLLERR))) {
      // The runner is not connected any more (QEMU connects before the guest runs, so this is
      // not the start): a guest whose runner died powers itself off, and QEMU exits with it.
      if (hup_since == 0) hup_since = now_ms();
      if (now_ms() - hup_since > ORPHAN_POWEROFF_MS) {
        console("tcplab-vminit: the runner is gone; powering off\n");
        kill(-1, SIGKILL);
        sync();
        reboot(RB_POWER_OFF);
      }
      usleep(20000);
    }
  }
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--stdio") == 0) {
    stdio_mode = 1;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    signal(SIGPIPE, SIG_IGN);
    port = 0;
    port_out = 1;
    serve();
    return 0;
  }
  if (getpid() != 1) {
    fprintf(stderr, "tcplab-vminit runs as PID 1 of a tcplab guest (src/lab/vm/)\n");
    return 2;
  }
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  sigprocmask(SIG_BLOCK, &blocked, NULL);
  signal(SIGPIPE, SIG_IGN);
  stage1();
  setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  setenv("HOME", "/root", 1);
  setenv("LANG", "C.UTF-8", 1);
  port = open_port("tcplab");
  if (port < 0) die("virtio-serial port tcplab");
  port_out = port;
  serve();
  return 0;
}
