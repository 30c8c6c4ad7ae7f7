import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseContainerEvents } from '../../sidecar/docker/dockerEngine';
import type { ContainerEvent } from '../../sidecar/docker/engine';

const line = (fields: object) => `${JSON.stringify(fields)}\n`;

describe("Docker's event stream", () => {
  it('yields the container actions followed, with die carrying its exit code', () => {
    const events: ContainerEvent[] = [];
    const push = parseContainerEvents((event) => events.push(event));
    push(Buffer.from(line({ Type: 'container', Action: 'die', Actor: { ID: 'c1', Attributes: { exitCode: '137' } } })));
    push(Buffer.from(line({ Type: 'container', Action: 'pause', Actor: { ID: 'c2' } })));
    assert.deepEqual(events, [
      { containerId: 'c1', action: 'die', exitCode: 137 },
      { containerId: 'c2', action: 'pause' },
    ]);
  });

  it('joins a line split across chunks', () => {
    const events: ContainerEvent[] = [];
    const push = parseContainerEvents((event) => events.push(event));
    const whole = line({ Type: 'container', Action: 'destroy', Actor: { ID: 'c3' } });
    push(Buffer.from(whole.slice(0, 17)));
    assert.deepEqual(events, []);
    push(Buffer.from(whole.slice(17)));
    assert.deepEqual(events, [{ containerId: 'c3', action: 'destroy' }]);
  });

  it('skips what it does not follow or cannot read, and drops an endless line', () => {
    const events: ContainerEvent[] = [];
    const push = parseContainerEvents((event) => events.push(event));
    push(Buffer.from(line({ Type: 'network', Action: 'connect', Actor: { ID: 'n1' } })));
    push(Buffer.from(line({ Type: 'container', Action: 'exec_start: sh', Actor: { ID: 'c4' } })));
    push(Buffer.from(line({ Type: 'container', Action: 'die', Actor: { ID: 42 } })));
    push(Buffer.from('not json\n'));
    push(Buffer.alloc(100 * 1024, 'x')); // no newline: dropped once past the line limit
    push(Buffer.from(`\n${line({ Type: 'container', Action: 'start', Actor: { ID: 'c5' } })}`));
    assert.deepEqual(events, [{ containerId: 'c5', action: 'start' }]);
  });
});
