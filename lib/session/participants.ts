/**
 * Wire conversions of session members (`Participant` entries of welcome and update payloads).
 * @module
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Name } from "../names/name.ts";
import {
  nameFromProto,
  nameToProto,
  type Participant,
  type ParticipantSchema,
  ParticipantState,
} from "../wire/codec.ts";
import type { Member } from "./session_core.ts";

/** A roster member as a wire `Participant` (status omitted when online, as prost does). */
export function participantProto(
  name: Name,
  online = true,
  sendsData = true,
  receivesData = true,
): MessageInitShape<typeof ParticipantSchema> {
  return {
    name: nameToProto(name),
    settings: { sendsData, receivesData },
    status: online ? ParticipantState.ONLINE : ParticipantState.OFFLINE,
  };
}

/** The full member list: ourselves first, then the roster. */
export function participantList(
  self: Name,
  roster: Iterable<Member>,
): MessageInitShape<typeof ParticipantSchema>[] {
  const out = [participantProto(self)];
  for (const m of roster) out.push(participantProto(m.name, m.online, m.sendsData, m.receivesData));
  return out;
}

/** Reads a wire participant. */
export function memberFromProto(p: Participant): Member {
  return {
    name: nameFromProto(p.name),
    online: p.status !== ParticipantState.OFFLINE,
    sendsData: p.settings?.sendsData ?? true,
    receivesData: p.settings?.receivesData ?? true,
  };
}
