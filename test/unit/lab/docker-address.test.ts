// --docker-host: each daemon written as DOCKER_HOST is; bad values are usage errors (exit 2).
import t from 'tap'
import { parseDockerAddress, parseDockerHosts } from '../../../src/lab/docker-address.js'

t.test('addresses as DOCKER_HOST writes them', async (t) => {
  t.equal(parseDockerAddress('unix:///var/run/docker.sock'), 'unix:///var/run/docker.sock')
  t.equal(parseDockerAddress('tcp://127.0.0.1:23750'), 'tcp://127.0.0.1:23750')
  t.equal(parseDockerAddress('tcp://docker.example:2376/'), 'tcp://docker.example:2376')
  t.equal(parseDockerAddress('ssh://ci@build-7'), 'ssh://ci@build-7')
  t.equal(parseDockerAddress(' ssh://ci@build-7:2222 '), 'ssh://ci@build-7:2222')
  t.same(parseDockerHosts(undefined), [])
  t.same(parseDockerHosts(['unix:///a.sock,tcp://h:2375', 'ssh://x']), ['unix:///a.sock', 'tcp://h:2375', 'ssh://x'], 'comma-separated and repeated')
})

t.test('bad addresses: exit 2 with the value and a hint', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['tcp://h', /tcp:\/\/ needs a port/],
    ['h:2375', /expected unix:\/\/, tcp:\/\/ or ssh:\/\//],
    ['http://h:2375', /expected unix:\/\//],
    ['unix://relative.sock', /expected unix:\/\//],
    ['unix:///run/', /is a directory/],
    ['tcp://h:2375/v1.41', /has no path/],
    ['tcp://:2375', /no host name|not an address/],
    ['', /empty daemon address/],
  ]
  for (const [text, message] of bad) {
    t.throws(() => parseDockerAddress(text), { exitCode: 2, message, hint: /DOCKER_HOST/ }, `"${text}" refused`)
  }
  t.throws(() => parseDockerHosts('unix:///a.sock,'), { exitCode: 2, message: /empty daemon address/ }, 'a trailing comma')
  t.throws(() => parseDockerHosts(['unix:///a.sock', 'unix:///a.sock']), { exitCode: 2, message: /names unix:\/\/\/a\.sock twice/ })
})
