"""Common English words that are also names ("May", "Grant", "Long", "Will", ...).

A single-token name mention that is one of these words is matched only when capitalised
("May said" yes, "we may agree" no). Full-name mentions are matched in any case. The list is
frequent English vocabulary plus months, weekdays and known word-names; it is data, kept in
Python so it ships with the package.
"""

from __future__ import annotations

COMMON_WORDS: frozenset[str] = frozenset(
    """
    a ability able about above accept according account across act action activity actually add
    address administration admit adult affect after again against age agency agent ago agree
    agreement ahead air all allow almost alone along already also although always amber american
    among amount analysis and animal another answer any anyone anything appear apply approach
    april area argue arm around arrive art article artist as ash ask assume at attack attention
    attorney audience august author authority autumn available avoid away baby back bad bag
    baker ball bank banks bar base bass be beat beautiful because become bed before begin
    behavior behind believe bell benefit best better between beyond big bill billion birch bird
    bishop bit black blood blue board bob body bond book born both box boy break bring brook
    brother brown budget build building bush business but buy by call camera campaign can
    candidate capital car card care career carol carry carter case cash catch cause cell center
    central century certain certainly chair challenge chance change character charge chase check
    child choice choose church citizen city civil claim class clear clearly cliff close coach
    cold collection college color commercial common community company compare computer concern
    condition conference congress consider consumer contain continue control cook cooper cost
    could country couple course court cover crane create crime crystal cultural culture cup
    current customer cut daisy dark data daughter dawn day deal dean debate decade december
    decide decision deep defense degree democrat democratic describe design despite destiny
    detail determine develop development difference different difficult dinner direction
    director discover discuss discussion do doctor dog door down draw dream drew drive drop drug
    duke during each earl early east easy eat economic economy edge education effect effort
    eight either election elm else employee end energy enjoy enough enter entire environment
    environmental especially establish even evening event ever every everybody everyone
    everything evidence exactly example executive exist expect experience expert explain eye
    face fact factor faith fall family far fast father fear february federal feel feeling few
    field fields fight figure fill film final finally financial find fine finish fire firm first
    fish fisher five floor fly focus follow food foot for force foreign forget form former
    forward four fox frank free freeman friday friend from front full fund future game garden
    gardner gas gay gene general generation get girl give glass go goal gold golden good goodman
    government grace grant gray great green grey ground group grow growth guess gun guy hair
    half hall hand happen happy hard harmony hart have hay he head health hear heart heavy help
    her herb here herself high hill him himself his history hit hold holly home honor hood hope
    hospital hot hotel hour house how however huge human hundred hunt hunter husband i idea
    identify if image imagine impact important improve in include including increase indeed
    indicate individual industry information inside instead institution interest interesting
    international interview into investment involve iris issue it item its itself ivy jack jade
    january job join joy july june just justice keep key kid kind king kitchen knight know
    knowledge lake lamb land lane language large last late later laugh law lawyer lay lead
    leader learn least leave left leg less let letter level liberty life light like likely lily
    line list listen little live local long look lose loss lot love low machine magazine main
    maintain major majority make man manage management manager many march mark market marriage
    marsh mason material matter may maybe me mean measure media medical meet meeting melody
    member memory mention message method middle might miles military miller million mind minute
    miss mission model modern moment monday money month moon more morning moss most mother mouth
    move movement movie mr mrs much music must my myself name nash nation national natural
    nature near nearly necessary need network never new newman news newspaper next nice night no
    noble none nor north not note nothing notice november now number oak occur october of off
    offer office officer official often oil ok old olive on once one only onto open operation
    opportunity option or order organization other others our out outside over own owner page
    painting paper parent park part participant particular particularly partner party pass past
    pat patience pattern pay peace pearl people per perform performance perhaps person personal
    phone physical pick picture piece pike place plan plant play player pm point police policy
    political politics poor pope popular population porter position positive possible power
    practice prepare present president pressure pretty prevent price prince probably process
    produce product production professional professor program project property protect prove
    provide public pull purpose push put quality queen question quickly quite race radio rain
    raise range rate rather ray reach read ready real reality realize really reason receive
    recent recently recognize record red reduce reed reflect region relate relationship
    religious remain remember report represent republican require research resource respond
    response responsibility rest result return reveal rich right rise risk river road rob rock
    role room rose ruby rule run rush safe same saturday save say scene school science scientist
    score sea season seat second section security see seek seem sell send senior sense september
    series serious serve service set seven several shake share sharp she short should shoulder
    show side sign significant silver similar simple simply since sing single sister sit site
    situation six size skill skin sky small smile smith snow so social society soldier some
    somebody someone something sometimes son song soon sort sound source south southern space
    speak special specific speech spend sport spring staff stage stand standard star start state
    statement station stay step sterling still stock stone stop store storm story strategy
    street strong structure student study stuff style subject success successful such suddenly
    sue suffer suggest summer sun sunday support sure surface swift system table take talk task
    tax taylor teach teacher team technology television tell ten tend term test than thank that
    the their them themselves then theory there these they thing think third this those though
    thought thousand threat three through throughout throw thursday thus time to today together
    tonight too top total tough toward town trade traditional training travel treat treatment
    tree trial trinity trip trouble true truth try tuesday turn turner tv two type under
    understand unit until up upon us use usually value various very view violet visit voice vote
    wait walk walker wall want war ward watch water way we wear wednesday week weight well wells
    west western what whatever when where whether which while white who whole whom whose why
    wide wife will win wind window winter wish with within without wolf woman wonder wood word
    work worker world worry would write writer wrong yard yeah year yes yet you young your
    yourself
    """.split()
)
