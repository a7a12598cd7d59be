package wire

// The values of the telemetry's enumerated fields. docs/asyncapi.yaml lists
// the same; a test keeps the two equal.
const (
	// RelayClosed: supply on. RelayOpen: supply cut.
	RelayClosed = "closed"
	RelayOpen   = "open"

	// Why an open relay is open.
	RelayReasonNoCredit   = "no_credit"
	RelayReasonPowerLimit = "power_limit"
	RelayReasonTamper     = "tamper"

	// The utilities a meter supplies.
	UtilityElectricity = "electricity"
	UtilityWater       = "water"
	UtilityGas         = "gas"

	// The units of a meter's registers: electricity in kWh, water and
	// gas in cubic metres.
	UnitKWh = "kWh"
	UnitM3  = "m3"
)

// Relays lists the values of Telemetry.Relay.
var Relays = []string{RelayClosed, RelayOpen}

// RelayReasons lists the values of Telemetry.RelayReason.
var RelayReasons = []string{RelayReasonNoCredit, RelayReasonPowerLimit, RelayReasonTamper}

// Utilities lists the values of Telemetry.Utility.
var Utilities = []string{UtilityElectricity, UtilityWater, UtilityGas}

// RegisterUnits lists the values of Telemetry.Unit.
var RegisterUnits = []string{UnitKWh, UnitM3}

// States lists the values of Status.State.
var States = []string{StateOnline, StateOffline}
